"""The emotion input of the learned stages: an (8,) vector of intensities in EMOTIONS order.

    emotion_vector("happy=0.7")            -> [0.3, 0.7, 0, 0, 0, 0, 0, 0]
    emotion_vector({"neutral": 0.0})       -> [1.0, 0, 0, 0, 0, 0, 0, 0]   (the corpus writes neutral as 0)

Neutral is the remainder: its entry is max(0, 1 - sum of the other intensities), whatever the caller gave for it.
That makes "neutral", "neutral=0", "neutral=1" and an empty mix the same input, and a weak emotion a blend of it
and neutral, which is what the FiLM layers see in training (space.models.film).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..face.expression import EMOTIONS, parse_emotion


def emotion_vector(mix: Mapping[str, float] | str | None) -> np.ndarray:
    """A mix ({label: intensity in [0, 1]}, or a string like 'happy=0.7,surprise=0.3') -> (8,) float32.
    Raises ValueError naming the bad label (with the known ones) or the bad intensity."""
    if mix is None:
        mix = {}
    if isinstance(mix, str):
        mix = parse_emotion(mix)
    vector = np.zeros(len(EMOTIONS), np.float32)
    for label, value in mix.items():
        key = str(label).strip().lower()
        if key not in EMOTIONS:
            raise ValueError(f"unknown emotion {label!r}; known: {', '.join(EMOTIONS)}")
        try:
            intensity = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"intensity {value!r} of {key!r} is not a number") from None
        if not math.isfinite(intensity) or not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity {intensity} of {key!r} is outside [0, 1]")
        vector[EMOTIONS.index(key)] = intensity
    vector[0] = max(0.0, 1.0 - float(vector[1:].sum()))
    return vector


def emotion_batch(mixes, batch: int | None = None) -> np.ndarray:
    """One mix (broadcast to `batch` rows) or a list of mixes -> (B, 8) float32."""
    if isinstance(mixes, (str, Mapping)) or mixes is None:
        return np.repeat(emotion_vector(mixes)[None], batch or 1, axis=0)
    return np.stack([emotion_vector(m) for m in mixes])
