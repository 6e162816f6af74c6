"""One photo + one speech clip -> one talking-head video.

    photo  -> portrait crop, landmarks, pose, normalized identity          (space.portrait)
    speech -> audio windows per 25 fps frame                                (space.audio.features)
           -> Speech2Landmarks(identity, emotion): normalized landmarks   (space.models.s2l)
           -> blended with the mouth of the recognised phones              (space.animate.mouth)
           -> blinks and gaze edits                                         (space.face.eyes)
           -> head poses (natural / static / keyframes / reference video)  (space.animate.pose)
           -> posed landmarks + iris centres: a Motion                      (space.render.base)
           -> renderer (warp or facevid2vid) -> frames -> mp4 with the speech muxed in

`Animator` loads the models once and animates many (photo, speech) pairs; `animate` is the one-shot form.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SpaceError
from ..face.expression import mouth_opening
from ..face.eyes import apply_blink, apply_gaze, blink_curve, blink_times, posed_iris
from ..face.geometry import repose
from ..io.audio import SAMPLE_RATE
from ..io.mp4 import frame_count_for
from ..render.base import Motion, Renderer
from .options import AnimateOptions
from .pose import apply_motion, keyframe_motion, reference_poses, static_motion, transfer_motion

FPS = 25.0


class UnsafeOutputError(SpaceError):
    """The output path would overwrite an input or is not an .mp4 file."""


@dataclass
class AnimateResult:
    output: str
    frames: int
    duration: float  # seconds of speech
    fps: float
    size: int
    renderer: str
    pose_source: str
    driving: str = "l2l"  # how a keypoint renderer's head params were made (AnimateOptions.driving)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    models: dict[str, dict] = field(default_factory=dict)  # stage -> checkpoint path and training metadata

    def to_dict(self) -> dict:
        return dict(vars(self))


def check_output(out: str, *inputs: str) -> None:
    """Refuse an output that is not an .mp4 or that names one of the inputs (it would be destroyed)."""
    if not os.fspath(out).lower().endswith(".mp4"):
        raise UnsafeOutputError(os.fspath(out), "the output must be an .mp4 file")
    resolved = {os.path.realpath(os.fspath(p)) for p in inputs if p and "://" not in os.fspath(p)}
    if "://" not in os.fspath(out) and os.path.realpath(os.fspath(out)) in resolved:
        raise UnsafeOutputError(os.fspath(out), "the output path is one of the inputs; it would be overwritten")


class Animator:
    """The models for a set of options, loaded once; `run` animates one (photo, speech) pair."""

    def __init__(self, options: AnimateOptions = AnimateOptions()):
        from .stages import load_stages

        self.options = options
        self.stages = load_stages(options.checkpoints, options.renderer, options.device, options.size,
                                  options.driving)
        self._renderer: Renderer | None = None
        self._backend = None

    # -- pieces, each usable alone (tests and the render job use them) ---------------------------------------

    @property
    def backend(self):
        from ..face.backend import make_backend

        if self._backend is None:
            self._backend = make_backend(self.options.landmarks)
        return self._backend

    def portrait(self, photo: str, options: AnimateOptions):
        from ..portrait import load_portrait

        return load_portrait(photo, size=options.size, backend=self.backend)

    def renderer(self) -> Renderer:
        from .stages import make_renderer

        if self._renderer is None:
            self._renderer = make_renderer(self.options.renderer, self.stages, self.options.device,
                                           self.options.driving)
        return self._renderer

    def motion(self, portrait, audio: np.ndarray, options: AnimateOptions, timings: dict | None = None,
               reference: np.ndarray | None = None, phones: list | None = None) -> Motion:
        """Everything but the pixels: (T) frames of posed landmarks, iris centres, poses for 16 kHz speech.
        `reference`: the (T', 6) head poses of the reference video when `options.pose` names one and they were
        measured already (the render job measures them on a CPU worker); else they are measured here. `phones`:
        the speech's timed phones, likewise (space.audio.phones; used unless options.mouth is 's2l')."""
        timings = {} if timings is None else timings
        num_frames = frame_count_for(len(audio) / SAMPLE_RATE, FPS)
        tick = time.perf_counter()
        features = self.stages.features(audio)  # (1, T, W, F) torch on the device
        emotion = self.stages.emotion(options.emotion)  # (8,)
        timings["audio_features"] = time.perf_counter() - tick

        normalized = self.stages.speaking_landmarks(features, audio, portrait.normalized, emotion, options.mouth,
                                                    timings, phones)  # (T, 68, 3)

        times = options.blink_times
        if times is None:
            times = blink_times(num_frames / FPS, options.blink_rate, seed=options.seed)
        normalized = apply_blink(normalized, blink_curve(num_frames, FPS, times))
        gaze_yaw, gaze_pitch = options.gaze
        normalized = apply_gaze(normalized, gaze_yaw, gaze_pitch)

        tick = time.perf_counter()
        head = self.head_motion(features, num_frames, options, reference)
        poses = apply_motion(portrait.pose, head, (options.yaw, options.pitch, options.roll))
        timings["pose"] = time.perf_counter() - tick
        return Motion(
            landmarks=repose(normalized, poses),
            normalized=normalized,
            poses=poses,
            iris=posed_iris(portrait.landmarks, portrait.iris, normalized, poses, gaze_yaw, gaze_pitch),
            mouth_open=mouth_opening(normalized),
            audio_features=features[0].cpu().numpy(),
            emotion=emotion,
        )

    def head_motion(self, features, num_frames: int, options: AnimateOptions,
                    reference: np.ndarray | None = None) -> np.ndarray:
        """(T, 6) pose deltas from the photo's pose, from the chosen source."""
        source = options.pose_source
        if source == "keyframes":
            return keyframe_motion(list(options.keyframes), num_frames, FPS)
        if source == "static":
            return static_motion(num_frames)
        if source == "natural":
            return self.stages.sample_pose(features, options.seed, options.pose_temperature)[:num_frames]
        if reference is None:
            reference = reference_poses(options.pose, self.backend, FPS)
        return transfer_motion(reference, num_frames)

    # -- the whole path ----------------------------------------------------------------------------------------

    def run(self, photo: str, audio: str, out: str, options: AnimateOptions | None = None, progress: bool = True) -> AnimateResult:
        from tqdm import tqdm

        from ..io.audio import load_audio
        from ..io.mp4 import write_mp4

        options = options or self.options
        fixed = ("renderer", "checkpoints", "device", "landmarks", "driving") + (
            ("size",) if options.renderer == "facevid2vid" else ())
        if any(getattr(options, name) != getattr(self.options, name) for name in fixed):
            raise ValueError(f"{', '.join(fixed)} are fixed per Animator; make another Animator to change them")
        check_output(out, photo, audio, options.pose if options.pose_source == "reference" else None)
        timings: dict[str, float] = {}
        tick = time.perf_counter()
        portrait = self.portrait(photo, options)
        timings["portrait"] = time.perf_counter() - tick
        speech = load_audio(audio)
        motion = self.motion(portrait, speech, options, timings)

        tick = time.perf_counter()
        frames = self.renderer().render(portrait, motion)
        bar = tqdm(frames, total=len(motion), desc=f"rendering {Path(os.fspath(out)).name}", unit="frame", disable=not progress)
        write_mp4(out, bar, speech, fps=FPS, sample_rate=SAMPLE_RATE, crf=options.crf)
        timings["render_and_encode"] = time.perf_counter() - tick
        return AnimateResult(
            output=os.fspath(out), frames=len(motion), duration=len(speech) / SAMPLE_RATE, fps=FPS, size=options.size,
            renderer=options.renderer, pose_source=options.pose_source, driving=options.driving,
            timings={k: round(v, 4) for k, v in timings.items()}, models=self.stages.describe(),
        )


def animate(photo: str, audio: str, out: str, options: AnimateOptions | None = None, progress: bool = True, **overrides) -> AnimateResult:
    """Animate `photo` with `audio` into `out` (.mp4, H.264 + AAC, 25 fps). Options as AnimateOptions fields, e.g.
    `animate("me.jpg", "hello.wav", "out.mp4", emotion="happy=0.7", pose="static", gaze=(10, 0))`."""
    options = (options or AnimateOptions()).with_overrides(**overrides)
    return Animator(options).run(photo, audio, out, options, progress=progress)
