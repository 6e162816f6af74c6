"""A synthetic talking-head corpus with known ground truth, made from a real photo and synthesised speech."""
