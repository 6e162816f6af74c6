"""Training presets per stage: one dataclass of every knob, named presets, and `key=value` overrides.

    default  the sizes the shipped checkpoints use, for a real corpus (hours of clips)
    small    a few minutes on a laptop CPU: for a lake made from a few dozen clips
    tiny     seconds: tests and smoke runs (the models keep their architecture, the runs are short)

A preset's digest is part of the run name, so changing any knob starts a new run instead of resuming an old one.

face-vid2vid fine-tuning uses epochs, batch_size (pairs per worker per step), lr, seed, shuffle_buffer and
pairs_per_clip; its `model` entries are the training options of pipelines.train.facevid2vid.training_options
(loss weights such as `model.reconstruction=0`, `model.gan_mode`, `model.discriminator` as a JSON object).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

__all__ = ["PRESETS", "TrainPreset", "apply_overrides", "preset"]


@dataclass(frozen=True)
class TrainPreset:
    epochs: int = 30
    batch_size: int = 16  # windows per worker per step
    frames: int = 50  # window length (2 s at 25 fps)
    stride: int = 25  # windows start every `stride` frames of a clip
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_share: float = 0.05  # of all steps, then cosine down to 5% of lr
    grad_clip: float = 1.0
    mouth_weight: float = 3.0  # S2L: mouth points' weight in the landmark L1
    velocity_weight: float = 1.0  # S2L / L2L: weight of the frame-to-frame difference term
    seed: int = 0
    amp: bool = True  # bfloat16 autocast on a GPU (never on a CPU)
    shuffle_buffer: int = 256  # windows in each worker's local shuffle buffer
    pairs_per_clip: int = 8  # face-vid2vid: (source, driving) frame pairs drawn from each clip
    av_sync: str = "shift"  # clips whose sound trails or leads the face: shift, skip or off (pipelines.train.data)
    model: dict = field(default_factory=dict)  # overrides of the stage's model config (S2LConfig, ...)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]


PRESETS: dict[str, dict[str, TrainPreset]] = {
    "s2l": {
        "default": TrainPreset(),
        "small": TrainPreset(epochs=12, batch_size=16, frames=40, stride=10),
        "tiny": TrainPreset(epochs=3, batch_size=8, frames=25, stride=12, lr=3e-3),
    },
    "pose": {
        "default": TrainPreset(epochs=20),
        "small": TrainPreset(epochs=10, frames=40, stride=10),
        "tiny": TrainPreset(epochs=3, batch_size=8, frames=25, stride=12, lr=3e-3),
    },
    "l2l": {
        "default": TrainPreset(epochs=25),
        "small": TrainPreset(epochs=12, frames=40, stride=10),
        "tiny": TrainPreset(epochs=3, batch_size=8, frames=25, stride=12, lr=3e-3),
    },
    # fine-tuning a public checkpoint: the public trainer's lr and Adam; `frames`, `stride`, the schedule, clipping
    # and amp do not apply (full precision, constant lr)
    "facevid2vid": {
        "default": TrainPreset(epochs=20, batch_size=4, lr=2e-4, pairs_per_clip=8, shuffle_buffer=64),
        "small": TrainPreset(epochs=5, batch_size=2, lr=2e-4, pairs_per_clip=4, shuffle_buffer=32),
        "tiny": TrainPreset(epochs=2, batch_size=2, lr=2e-4, pairs_per_clip=2, shuffle_buffer=8),
    },
}


def preset(stage: str, name: str) -> TrainPreset:
    if stage not in PRESETS:
        raise ValueError(f"unknown stage {stage!r}: choose one of {', '.join(PRESETS)}")
    if name not in PRESETS[stage]:
        raise ValueError(f"no preset {name!r} for {stage}: choose one of {', '.join(PRESETS[stage])}")
    return PRESETS[stage][name]


def apply_overrides(base: TrainPreset, overrides: list[str]) -> TrainPreset:
    """`["epochs=5", "lr=1e-3", "model.hidden=64"]` -> a new preset; values are parsed as JSON, else kept as text.
    An unknown key raises ValueError naming it and the known ones."""
    changes: dict = {}
    model = dict(base.model)
    names = {f.name: f for f in dataclasses.fields(base)}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r}: expected key=value")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if key.startswith("model."):
            model[key[6:]] = value
        elif key in names and key != "model":
            kind = type(getattr(base, key))
            changes[key] = kind(value) if kind in (int, float, bool) and not isinstance(value, str) else value
            if kind is bool and isinstance(value, str):
                raise ValueError(f"override {item!r}: {key} takes true or false")
        else:
            raise ValueError(f"unknown training setting {key!r}: known are {', '.join(n for n in names if n != 'model')}"
                             ", and model.<field>")
    return dataclasses.replace(base, **changes, model=model)
