"""Renderers: one photo + per-frame motion -> frames (`warp`, `facevid2vid`)."""
