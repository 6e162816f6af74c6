"""LivePortrait's networks and released weights (KwaiVGI, MIT licence), written from its public code's
architecture: see model.py for the whole pipeline and the file layout."""

from .config import LivePortraitConfig
from .model import LAYOUT, PARAM_DIM, LivePortrait, LivePortraitLayout, load_liveportrait, release_files

__all__ = ["LAYOUT", "PARAM_DIM", "LivePortrait", "LivePortraitConfig", "LivePortraitLayout", "load_liveportrait",
           "release_files"]
