"""Training sequences: one `ClipSequence` per clip, from the synthetic corpus or from any arrays.

A clip holds per-frame arrays aligned to 25 fps frames (T rows each) and what is constant over the clip:

    features   (T, W, F)    audio windows (space.audio.features), computed once and cached as float16
    emotion    (8,)         space.models.emotion vector
    normalized (T, 68, 3)   pose-free landmarks (S2L target)           identity (68, 3) the photo's (S2L input)
    poses      (T, 6)       absolute head poses (POSE_FIELDS) (pose generator; deltas are taken per crop)
    landmarks  (T, 68, 3)   posed, crop-normalised (L2L input)         canonical (15, 3) face-vid2vid keypoints
    targets    (T, P)       the keypoint renderer's head parameters (L2L target; 51 for face-vid2vid)

Any field may be missing; a loop checks that the ones it needs are there. `clip_from_arrays` builds a clip from
any source (a later issue feeds Delta table rows); `synthetic_clips` from the synthetic corpus without rendering
a single frame (make_clip's ground truth is eager, its frames lazy).

`SequenceDataset` draws random crops into batches. Identity augmentation: the corpus has one photo, so a random
smooth warp of the normalized space (an affine part and a few Gaussian bumps) is applied to the identity AND to
every target frame of the clip: the model sees many face shapes whose motion is the same, and learns
displacements, not the astronaut.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from ..audio.features import AudioFeatureConfig, AudioFeatures
from ..models.emotion import emotion_vector
from ..models.pose import pose_deltas

FIELDS = ("normalized", "identity", "poses", "landmarks", "canonical", "targets")


@dataclass
class ClipSequence:
    clip_id: str
    features: torch.Tensor  # (T, W, F) float16
    emotion: np.ndarray  # (8,) float32
    normalized: np.ndarray | None = None  # (T, 68, 3)
    identity: np.ndarray | None = None  # (68, 3)
    poses: np.ndarray | None = None  # (T, 6)
    landmarks: np.ndarray | None = None  # (T, 68, 3)
    canonical: np.ndarray | None = None  # (15, 3)
    targets: np.ndarray | None = None  # (T, P)
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.features.shape[0])


def neutral_frame(normalized: np.ndarray) -> int:
    """The frame whose inner lips are closest together: the best stand-in for a photo when a clip has none."""
    gap = np.linalg.norm(normalized[:, [61, 62, 63]] - normalized[:, [67, 66, 65]], axis=-1).mean(-1)
    return int(np.argmin(gap))


@functools.lru_cache(maxsize=4)
def _extractor(config: AudioFeatureConfig) -> AudioFeatures:
    return AudioFeatures(config)


def audio_windows(audio: np.ndarray, config: AudioFeatureConfig = AudioFeatureConfig(),
                  sample_rate: int = 16000) -> torch.Tensor:
    """Mono audio (S,) -> (T, W, F) float32 windows."""
    wave = torch.as_tensor(np.asarray(audio, np.float32)).reshape(-1)
    if sample_rate != config.sample_rate:
        import torchaudio

        wave = torchaudio.functional.resample(wave, sample_rate, config.sample_rate)
    with torch.no_grad():
        return _extractor(config)(wave)[0]


def clip_from_arrays(
    *, clip_id: str, audio: np.ndarray | None = None, features=None, sample_rate: int = 16000,
    emotion=None, normalized=None, identity=None, poses=None, landmarks=None, canonical=None, targets=None,
    feature_config: AudioFeatureConfig = AudioFeatureConfig(), info: dict | None = None,
) -> ClipSequence:
    """A clip from any source: audio (16 kHz mono, or `sample_rate`) or precomputed `features` (T, W, F), plus
    whichever per-frame arrays the source has. Per-frame arrays may be one frame longer or shorter than the audio's
    frame count (rounding at the source); they are cut to the shortest. Without `identity`, the frame of
    `normalized` with the most closed mouth stands in for the photo. Raises ValueError naming the clip."""
    if (audio is None) == (features is None):
        raise ValueError(f"clip {clip_id}: give audio or features, exactly one")
    # features from Arrow are read-only views: a copy, which torch may write to
    feats = audio_windows(audio, feature_config, sample_rate) if audio is not None else \
        torch.as_tensor(np.array(features)) if isinstance(features, np.ndarray) else torch.as_tensor(features)
    if feats.dim() != 3:
        raise ValueError(f"clip {clip_id}: features must be (T, W, F), got {tuple(feats.shape)}")
    per_frame = {"normalized": normalized, "poses": poses, "landmarks": landmarks, "targets": targets}
    per_frame = {k: np.asarray(v, np.float32) for k, v in per_frame.items() if v is not None}
    lengths = {"audio": len(feats), **{k: len(v) for k, v in per_frame.items()}}
    frames = min(lengths.values())
    if max(lengths.values()) - frames > 1:
        raise ValueError(f"clip {clip_id}: frame counts disagree by more than one frame: {lengths}")
    if frames < 2:
        raise ValueError(f"clip {clip_id}: {frames} frame(s) is too short to train on")
    per_frame = {k: v[:frames] for k, v in per_frame.items()}
    shapes = {"normalized": (68, 3), "poses": (6,), "landmarks": (68, 3)}
    if "targets" in per_frame:  # any renderer's head-parameter length (checked against the model at training)
        shapes["targets"] = (per_frame["targets"].shape[-1],) if per_frame["targets"].ndim == 2 else (-1,)
    for key, value in per_frame.items():
        if value.shape[1:] != shapes[key]:
            raise ValueError(f"clip {clip_id}: {key} must be (T, {', '.join(map(str, shapes[key]))}), got {value.shape}")
    if identity is None and "normalized" in per_frame:
        identity = per_frame["normalized"][neutral_frame(per_frame["normalized"])]
    if isinstance(emotion, np.ndarray) and emotion.shape == (8,):
        emo = emotion.astype(np.float32)
    else:
        emo = emotion_vector(emotion)
    return ClipSequence(
        clip_id=clip_id, features=feats[:frames].to(torch.float16), emotion=emo,
        identity=None if identity is None else np.asarray(identity, np.float32).reshape(68, 3),
        canonical=None if canonical is None else np.asarray(canonical, np.float32).reshape(-1, 3),
        info=dict(info or {}), **per_frame,
    )


@functools.lru_cache(maxsize=2)
def _portrait(size: int):
    from ..synth.corpus import astronaut_portrait

    return astronaut_portrait(size)


def synthetic_clips(count: int, seed: int, feature_config: AudioFeatureConfig = AudioFeatureConfig(),
                    progress: bool = False, **corpus_overrides) -> list[ClipSequence]:
    """`count` clips of the synthetic corpus (CorpusConfig(clips=count, seed=seed, **overrides)) with the S2L and
    pose fields, plus posed landmarks crop-normalised (for L2L experiments) and the truth in `info`. No frame is
    rendered. Use different seeds for training and validation."""
    from ..models.l2l import crop_normalize
    from ..synth.corpus import CorpusConfig, make_clip

    config = CorpusConfig(clips=count, seed=seed, **corpus_overrides)
    portrait = _portrait(config.size)
    clips = []
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"synthetic clips (seed {seed})", unit="clip")
    for index in indices:
        _, audio, truth = make_clip(portrait, index, config)  # the frames iterator is never run
        emotion = truth["emotion"]
        clips.append(clip_from_arrays(
            clip_id=truth["clip_id"], audio=audio, sample_rate=truth["sample_rate"],
            emotion={emotion["label"]: emotion["intensity"]},
            normalized=np.asarray(truth["normalized"]), identity=portrait.normalized,
            poses=np.asarray(truth["poses"]),
            landmarks=crop_normalize(np.asarray(truth["landmarks"]), config.size),
            feature_config=feature_config,
            info={"mouth_open": np.asarray(truth["mouth_open"], np.float32), "emotion": emotion,
                  "corpus_digest": config.digest()},
        ))
    return clips


def phonetic_sequences(clips, feature_config: AudioFeatureConfig = AudioFeatureConfig(),
                       progress: bool = False) -> list[ClipSequence]:
    """space.synth.phonetic clips -> S2L training clips: recorded audio, emotion, the identity shown as the photo,
    the landmark targets; the phone timings and the articulators in `info`."""
    from tqdm import tqdm

    out = []
    for clip in tqdm(clips, desc="audio features", unit="clip", disable=not progress):
        out.append(clip_from_arrays(
            clip_id=clip.clip_id, audio=clip.audio, emotion={clip.plan.emotion: clip.plan.intensity},
            normalized=clip.normalized, identity=clip.identity, feature_config=feature_config,
            info={**clip.info, "phones": clip.phones, "articulation": clip.articulation},
        ))
    return out


def monologue_sequences(monologues, feature_config: AudioFeatureConfig = AudioFeatureConfig(),
                        progress: bool = False) -> list[ClipSequence]:
    """space.synth.phonetic monologues -> pose training clips (audio and absolute poses from the rest pose)."""
    from tqdm import tqdm

    return [clip_from_arrays(clip_id=m.clip_id, audio=m.audio, poses=m.poses, feature_config=feature_config,
                             info={"accents": m.accents, "liveliness": m.liveliness})
            for m in tqdm(monologues, desc="monologue features", unit="clip", disable=not progress)]


def corpus_digest(count: int, seed: int, **corpus_overrides) -> str:
    from ..synth.corpus import CorpusConfig

    return CorpusConfig(clips=count, seed=seed, **corpus_overrides).digest()


# ---- identity augmentation -------------------------------------------------------------------------------------

def random_warp(rng: np.random.Generator, strength: float = 1.0):
    """A random smooth warp of the normalized space (points (..., 3) -> same): a face of another shape.
    Per axis scale ~ +-8%, shear ~ +-5%, depth scale ~ +-10%, and four Gaussian bumps (sigma 0.35 mean-face units,
    ~0.04 units of displacement each) that move the parts of the face relative to each other."""
    s = strength
    scale = np.exp(rng.normal(0, 0.08 * s, 2))
    shear = rng.normal(0, 0.05 * s, 2)
    affine = np.array([[scale[0], shear[0]], [shear[1], scale[1]]])
    depth = float(np.exp(rng.normal(0, 0.1 * s)))
    centres = np.stack([rng.uniform(-0.7, 0.7, 4), rng.uniform(-0.5, 1.0, 4)], 1)  # (K, 2)
    amplitudes = rng.normal(0, 0.04 * s, (4, 2))
    sigma = 0.35

    def warp(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float32)
        xy = p[..., :2]
        d2 = ((xy[..., None, :] - centres) ** 2).sum(-1)  # (..., K)
        bumps = np.exp(-d2 / (2 * sigma**2)) @ amplitudes  # (..., 2)
        out = np.empty_like(p)
        out[..., :2] = xy @ affine.T + bumps
        out[..., 2] = p[..., 2] * depth
        return out

    return warp


def spectral_augment(features: torch.Tensor, rng: np.random.Generator, warp: float = 0.12,
                     masks: int = 2, mask_bins: int = 8) -> torch.Tensor:
    """(T, W, F) log-mel windows of one clip -> another speaker's and microphone's version of them, for S2L: the
    mel axis stretched by a factor in 1 +- `warp` (vocal tract length: formants move up or down together, a
    child's or a deep voice from a synthesiser's few), then up to `masks` bands of up to `mask_bins` bins each
    flattened to their clip mean (a missing or masked part of the spectrum: the model may not rely on one band).
    Level and fixed spectral tilt need nothing here: the model standardises each bin per clip."""
    x = torch.as_tensor(features).float()
    bins = x.shape[-1]
    factor = float(np.exp(rng.uniform(-warp, warp)))
    source = torch.arange(bins, dtype=torch.float32) / factor  # output bin f reads input bin f / factor
    lo = source.floor().clamp(0, bins - 1).long()
    hi = (lo + 1).clamp(max=bins - 1)
    frac = (source - lo.float()).clamp(0, 1)
    x = x[..., lo] * (1 - frac) + x[..., hi] * frac
    for _ in range(int(rng.integers(0, masks + 1))):
        width = int(rng.integers(1, mask_bins + 1))
        start = int(rng.integers(0, bins - width + 1))
        band = x[..., start : start + width]
        x[..., start : start + width] = band.mean(dim=(0, 1), keepdim=True)
    return x


def training_item(features, emotion, *, normalized=None, identity=None, poses=None, landmarks=None, targets=None,
                  canonical=None, warp=None) -> dict:
    """One training window -> the model inputs and targets: `warp` (an identity augmentation, `random_warp`) is
    applied to the identity AND to every frame of `normalized`, and poses become deltas from the window's first
    frame. Shared by `SequenceDataset` (clips in memory) and the distributed trainer (windows streamed by Ray
    Data), so both train on the same items."""
    item = {"features": torch.as_tensor(features).float(), "emotion": np.asarray(emotion, np.float32)}
    if normalized is not None and identity is not None:
        if warp is not None:
            normalized, identity = warp(normalized), warp(identity)
        item["normalized"], item["identity"] = normalized, identity
    if poses is not None:
        item["pose_deltas"] = pose_deltas(poses).astype(np.float32)
    if landmarks is not None:
        item["landmarks"] = landmarks
    if targets is not None:
        item["targets"] = targets
    if canonical is not None:
        item["canonical"] = canonical
    return item


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """Items of the same length -> a batch (the keys every item has)."""
    keys = set.intersection(*(set(i) for i in items))
    out = {}
    for key in keys:
        values = [i[key] for i in items]
        out[key] = torch.stack(values) if torch.is_tensor(values[0]) else \
            torch.as_tensor(np.stack(values), dtype=torch.float32)
    return out


class SequenceDataset:
    """Clips -> random crops in batches. augment: None, "random" (a new identity warp each draw) or "fixed"
    (one warp per clip, from `seed`: a reproducible validation set of varied faces). crops: "random" (anywhere in
    a clip) or "start" (from each clip's first frame: for the pose generator, whose frame 0 is the photo at rest
    and whose motion returns to it). spectral: `spectral_augment` the audio of every random draw."""

    def __init__(self, clips: list[ClipSequence], augment: str | None = None, seed: int = 0, strength: float = 1.0,
                 crops: str = "random", spectral: bool = False):
        if augment not in (None, "random", "fixed"):
            raise ValueError(f"augment must be None, 'random' or 'fixed', got {augment!r}")
        if crops not in ("random", "start"):
            raise ValueError(f"crops must be 'random' or 'start', got {crops!r}")
        self.crops = crops
        self.spectral = spectral  # spectral_augment on every random draw (training only)
        if not clips:
            raise ValueError("a SequenceDataset needs at least one clip")
        self.clips = list(clips)
        self.augment = augment
        self.strength = strength
        self._fixed = [random_warp(np.random.default_rng([seed, i]), strength) for i in range(len(clips))] \
            if augment == "fixed" else None

    def __len__(self) -> int:
        return len(self.clips)

    def has(self, *names: str) -> bool:
        return all(getattr(c, n) is not None for c in self.clips for n in names)

    def require(self, *names: str, who: str = "training") -> None:
        missing = sorted({n for c in self.clips for n in names if getattr(c, n) is None})
        if missing:
            raise ValueError(f"{who} needs {', '.join(names)} in every clip; missing: {', '.join(missing)}")

    def _warp(self, index: int, rng: np.random.Generator | None):
        if self.augment == "fixed":
            return self._fixed[index]
        if self.augment == "random" and rng is not None:
            return random_warp(rng, self.strength)
        return None

    def _item(self, index: int, start: int, frames: int, rng) -> dict:
        clip = self.clips[index]
        stop = start + frames
        window = {k: getattr(clip, k)[start:stop] for k in ("normalized", "poses", "landmarks", "targets")
                  if getattr(clip, k) is not None}
        features = clip.features[start:stop]
        if self.spectral and rng is not None:
            features = spectral_augment(features, rng)
        return training_item(features, clip.emotion, identity=clip.identity,
                             canonical=clip.canonical, warp=self._warp(index, rng), **window)

    _collate = staticmethod(collate)

    def sample_batch(self, batch_size: int, frames: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """`batch_size` random crops, all min(frames, shortest chosen clip) long."""
        chosen = rng.integers(0, len(self.clips), batch_size)
        length = min(frames, *(len(self.clips[i]) for i in chosen))
        starts = [0 if self.crops == "start" else int(rng.integers(0, len(self.clips[i]) - length + 1)) for i in chosen]
        items = [self._item(int(i), start, length, rng) for i, start in zip(chosen, starts)]
        return self._collate(items)

    def clip_batch(self, index: int) -> dict[str, torch.Tensor]:
        """The whole clip `index` as a batch of one (its fixed warp when augment='fixed', none otherwise)."""
        return self._collate([self._item(index, 0, len(self.clips[index]), None)])
