"""The synthetic talking-head corpus: real photo, synthesised speech, known ground truth.

A clip is made by animating scikit-image's astronaut photo (a real face that ships inside a package):

    rest landmarks of the photo (dlib) -> identity shape in the normalized space (pose fit; space.portrait)
    per frame: + mouth opening from the speech + emotion displacement + blink closure  (normalized space)
               -> re-posed with a known head-pose sequence -> target landmarks
               -> drawn by the `warp` renderer (space.render.warp): the photo warped piecewise-affinely from
                  its rest landmarks to the targets, irises kept in place in the eyes, a mouth interior drawn

The targets are the ground truth: the warp moves the photo's own detected landmarks exactly there, so a landmark
backend run on the frames should find them again. Each clip is an mp4 (H.264 + AAC) and a JSON file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..face.expression import EMOTIONS, mix_offsets, mouth_offsets, mouth_opening
from ..face.eyes import apply_blink, blink_curve, blink_times, carry_iris
from ..face.geometry import POSE_FIELDS, euler_to_matrix, matrix_to_euler, repose
from ..portrait import Portrait, astronaut_portrait  # noqa: F401  (re-exported: they used to live here)
from ..render.base import Motion
from ..render.warp import WarpRenderer
from .speech import synthesize_speech

# 2: frame count rounds half up (io.mp4.frame_count_for)
# 3: frames drawn by the `warp` renderer (space.render.warp): the photo cropped by space.portrait (integer crop,
#    area resampling), irises drawn in layers under the lids, a mouth interior with the photo's teeth and a
#    cavity; the truth gains the iris centres
# 4: the pose fit leaves out the speech-moved cheek contour (space.face.pose_fit): the photo's rest pose moved
CORPUS_VERSION = 4


@dataclass(frozen=True)
class CorpusConfig:
    clips: int = 8
    seed: int = 0
    fps: float = 25.0
    size: int = 256  # square frames
    min_seconds: float = 2.0
    max_seconds: float = 4.0
    max_yaw: float = 15.0  # degrees of head motion around the photo's own pose
    max_pitch: float = 6.0  # talking heads nod less than they turn; see docs on pitch under warping
    max_roll: float = 8.0
    blink_rate: float = 18.0  # per minute
    emotions: tuple[str, ...] = EMOTIONS
    sample_rate: int = 16000

    def digest(self) -> str:
        """Changes whenever anything that shapes the output changes (config or generator version)."""
        payload = json.dumps({"version": CORPUS_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def pose_sequence(num_frames: int, rest: np.ndarray, config: CorpusConfig, rng: np.random.Generator) -> np.ndarray:
    """(T, 6) absolute head poses: slow sums of sinusoids around the rest pose (rotation composed on the left,
    so the motion is in the camera frame), small translation and scale drift."""
    t = np.arange(num_frames) / config.fps

    def wave(amplitude):
        freqs = rng.uniform(0.15, 0.6, 2)
        phases = rng.uniform(0, 2 * np.pi, 2)
        mix = rng.uniform(0.4, 1.0, 2)
        signal = sum(m * np.sin(2 * np.pi * f * t + p) for m, f, p in zip(mix, freqs, phases)) / mix.sum()
        return amplitude * signal

    delta = euler_to_matrix(wave(config.max_yaw), wave(config.max_pitch), wave(config.max_roll))
    rot = delta @ euler_to_matrix(*rest[:3])
    yaw, pitch, roll = matrix_to_euler(rot)
    tx = rest[3] + wave(0.03 * config.size)
    ty = rest[4] + wave(0.03 * config.size)
    scale = rest[5] * (1 + wave(0.03))
    return np.stack([yaw, pitch, roll, tx, ty, scale], axis=1)


def make_clip(portrait: Portrait, index: int, config: CorpusConfig):
    """One clip: (frames iterator, audio, ground truth dict). Deterministic in (config.seed, index)."""
    rng = np.random.default_rng([config.seed, index])
    duration = float(rng.uniform(config.min_seconds, config.max_seconds))
    speech = synthesize_speech(duration, seed=int(rng.integers(2**31)), sample_rate=config.sample_rate, fps=config.fps)
    num_frames = len(speech.mouth_open)
    emotion = str(config.emotions[index % len(config.emotions)])
    intensity = 0.0 if emotion == "neutral" else float(rng.uniform(0.4, 1.0))
    blinks = blink_times(speech.duration, config.blink_rate, seed=int(rng.integers(2**31)))
    closure = blink_curve(num_frames, config.fps, blinks)
    poses = pose_sequence(num_frames, portrait.pose, config, rng)

    expression = mix_offsets({emotion: intensity})
    normalized = np.stack(
        [portrait.normalized + expression + mouth_offsets(m) for m in speech.mouth_open]
    )
    normalized = apply_blink(normalized, closure)
    landmarks3d = repose(normalized, poses)

    size = config.size
    # No gaze change: the photo's irises keep their place in the eyes while the head turns and the lids blink.
    iris = carry_iris(portrait.landmarks, portrait.iris, landmarks3d)
    motion = Motion(landmarks3d, normalized, poses, iris, mouth_opening(landmarks3d))
    frames = WarpRenderer().render(portrait, motion)

    truth = {
        "clip_id": f"synth-{config.digest()}-{index:04d}",
        "fps": config.fps,
        "num_frames": num_frames,
        "duration": speech.duration,
        "sample_rate": speech.sample_rate,
        "size": [size, size],
        "photo": portrait.source,
        "emotion": {"label": emotion, "intensity": round(intensity, 4)},
        "blink_times": np.round(blinks, 4).tolist(),
        "pose_fields": list(POSE_FIELDS),
        "poses": np.round(poses, 5).tolist(),
        "mouth_open": np.round(speech.mouth_open, 5).tolist(),
        "eye_closure": np.round(closure, 5).tolist(),
        "landmarks": np.round(landmarks3d, 4).tolist(),  # (T, 68, 3) pixels; x, y are the 2D ground truth
        "iris": np.round(iris, 4).tolist(),  # (T, 2, 2) pixels, image-left eye first
        "normalized": np.round(normalized, 6).tolist(),
        "syllables": [[round(a, 4), round(b, 4), v] for a, b, v in speech.syllables],
    }
    return frames, speech.audio, truth


def write_corpus(out_dir: str | Path, config: CorpusConfig = CorpusConfig(), progress: bool = True) -> list[Path]:
    """Write `config.clips` clips (mp4 + json) into out_dir; returns the mp4 paths. Clips already there with the
    same config digest are kept as they are, so a re-run only adds what is missing."""
    from tqdm import tqdm

    from ..io.mp4 import write_mp4

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    portrait = None
    paths = []
    for index in tqdm(range(config.clips), desc="synthetic clips", unit="clip", disable=not progress):
        stem = out / f"clip_{config.digest()}_{index:04d}"
        video, meta = stem.with_suffix(".mp4"), stem.with_suffix(".json")
        if not (video.exists() and meta.exists()):
            portrait = portrait or astronaut_portrait(config.size)
            frames, audio, truth = make_clip(portrait, index, config)
            write_mp4(str(video), frames, audio, fps=config.fps, sample_rate=config.sample_rate)
            tmp = meta.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(truth))
            tmp.replace(meta)  # the json appears last: its presence means the clip is complete
        paths.append(video)
    index_file = out / "corpus.json"
    index_file.write_text(json.dumps({"config": asdict(config), "digest": config.digest(), "clips": [p.name for p in paths]}, indent=1))
    return paths


def load_truth(video_path: str | Path) -> dict:
    """The ground truth JSON next to a corpus clip, with arrays restored."""
    truth = json.loads(Path(video_path).with_suffix(".json").read_text())
    for key in ("poses", "mouth_open", "eye_closure", "landmarks", "normalized", "blink_times", "iris"):
        if key in truth:
            truth[key] = np.asarray(truth[key], dtype=np.float64)
    return truth
