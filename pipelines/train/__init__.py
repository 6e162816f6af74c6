"""Distributed training of the SPACE stages on the preprocessing lake (Ray Train; `data` and `presets` do not
import Ray, `trainer` does)."""
