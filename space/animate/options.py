"""Settings of one animation, as one dataclass shared by `space animate`, the Python API and the render job."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from .pose import Keyframe, parse_keyframes

RENDERERS = ("warp", "facevid2vid", "liveportrait")
KEYPOINT_RENDERERS = ("facevid2vid", "liveportrait")  # renderers driven by head params (L2L or zero-shot)
DRIVINGS = ("l2l", "zero-shot")
SIZES = (256, 512)
MOUTHS = ("blend", "s2l", "phones")  # space.animate.mouth


@dataclass(frozen=True)
class AnimateOptions:
    # expression
    emotion: str | dict = "neutral"  # "happy=0.7,surprise=0.3" or {"happy": 0.7}
    # head pose: "natural" (sampled from speech), "static", or a reference video (path or URI) to copy from
    pose: str = "natural"
    yaw: float = 0.0  # constant head turn added to any pose source, degrees
    pitch: float = 0.0
    roll: float = 0.0
    keyframes: tuple[Keyframe, ...] | str = ()  # overrides `pose`: "0:0,0,0; 2:15,-5,0"
    pose_temperature: float = 1.0  # natural pose: 0 = the mean motion, 1 = as varied as the training data
    # mouth: "blend" (S2L with the phones a real-speech recogniser hears, space.animate.mouth), "s2l" or "phones"
    mouth: str = "blend"
    # eyes
    blink_rate: float = 15.0  # blinks per minute (people blink ~15-20); 0 = never
    blink_times: tuple[float, ...] | None = None  # explicit blink times in seconds (overrides blink_rate)
    gaze: tuple[float, float] = (0.0, 0.0)  # (yaw, pitch) degrees relative to the head; + = right / down
    # rendering
    renderer: str = "warp"
    size: int = 512  # SPACE renders 512 x 512; 256 is faster (and what a 256 face-vid2vid checkpoint draws)
    checkpoints: str | None = None  # folder or URI with s2l.pt, pose.pt (and l2l.pt + a keypoint renderer's weights)
    # how a keypoint renderer gets its head params: "l2l" (trained against its checkpoint, l2l.pt) or
    # "zero-shot" (its own motion estimator on the warp renderer's frames: no L2L; space.render.zero_shot)
    driving: str = "l2l"
    landmarks: str = "dlib"  # landmark backend for the photo (and a reference video)
    device: str = "cpu"
    seed: int = 0
    crf: int = 18

    def __post_init__(self):
        if isinstance(self.keyframes, str):
            object.__setattr__(self, "keyframes", tuple(parse_keyframes(self.keyframes)) if self.keyframes else ())
        if self.renderer not in RENDERERS:
            raise ValueError(f"renderer {self.renderer!r}: choose one of {', '.join(RENDERERS)}")
        if self.driving not in DRIVINGS:
            raise ValueError(f"driving {self.driving!r}: choose one of {', '.join(DRIVINGS)}")
        if self.driving != "l2l" and self.renderer not in KEYPOINT_RENDERERS:
            raise ValueError(f"driving {self.driving!r} applies to the keypoint renderers "
                             f"({', '.join(KEYPOINT_RENDERERS)}), not to {self.renderer!r}")
        if self.mouth not in MOUTHS:
            raise ValueError(f"mouth {self.mouth!r}: choose one of {', '.join(MOUTHS)}")
        if self.size not in SIZES:
            raise ValueError(f"size {self.size}: choose one of {', '.join(map(str, SIZES))}")
        if self.blink_rate < 0:
            raise ValueError(f"blink rate {self.blink_rate:g}: must be >= 0 blinks per minute")
        if len(self.gaze) != 2:
            raise ValueError(f"gaze {self.gaze!r}: expected (yaw, pitch) in degrees")
        if any(abs(g) > 45 for g in self.gaze):
            raise ValueError(f"gaze {self.gaze!r}: each angle must be within +-45 degrees")
        if self.pose_temperature < 0:
            raise ValueError(f"pose temperature {self.pose_temperature:g}: must be >= 0")

    @property
    def pose_source(self) -> str:
        """'keyframes', 'natural', 'static' or 'reference'."""
        if self.keyframes:
            return "keyframes"
        return self.pose if self.pose in ("natural", "static") else "reference"

    def with_overrides(self, **overrides) -> "AnimateOptions":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown animate option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["keyframes"] = [vars(k) for k in self.keyframes]
        out["gaze"] = list(self.gaze)
        out["pose"] = os.fspath(self.pose)
        return out

