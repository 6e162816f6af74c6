"""SPACE: speech-driven portrait animation with controllable expression.

The library: media I/O, face landmarks and head-pose geometry, models and single-video inference.
It never imports Ray, so it runs (and is benchmarked) anywhere torch runs.
"""

__version__ = "0.1.0"
