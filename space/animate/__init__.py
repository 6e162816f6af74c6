"""Single-video animation: one photo + one speech clip -> one talking-head mp4 (`space animate`)."""

from .options import AnimateOptions
from .pipeline import AnimateResult, Animator, animate
from .pose import Keyframe, parse_keyframes

__all__ = ["AnimateOptions", "AnimateResult", "Animator", "Keyframe", "animate", "parse_keyframes"]
