"""Expression as displacements of normalized landmarks: mouth opening and the eight emotion labels.

Units are mean-face units (space.face.mean_face: eye line to chin ~1.15), axes x right, y down. Each emotion
moves the points its facial action units move (Ekman's FACS): happy raises and widens the mouth corners (AU12),
surprise raises the brows and upper lids (AU1+2, AU5) and drops the jaw (AU26), sad raises the inner brows and
lowers the mouth corners (AU1, AU15), angry lowers and draws the brows together (AU4), fear raises and draws
them together and opens the lids (AU1+2+4, AU5), disgust raises the upper lip (AU10), contempt raises one
mouth corner (AU14, unilateral). The synthetic corpus uses these as ground truth; they are also a prior for the
landmark-driven renderer.
"""

from __future__ import annotations

import numpy as np

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "angry", "disgust", "contempt")

_MOUTH_CORNERS = [48, 54, 60, 64]
_INNER_BROWS = [20, 21, 22, 23]
_OUTER_BROWS = [17, 18, 25, 26]
_BROWS = list(range(17, 27))
_UPPER_LIDS = [37, 38, 43, 44]
_UPPER_LIP = [49, 50, 51, 52, 53, 61, 62, 63]
_LOWER_LIP_OUTER = [55, 56, 57, 58, 59]
_LOWER_LIP_INNER = [65, 66, 67]
# Jaw points drop with the chin, the chin (8) most.
_JAW_DROP = {4: 0.15, 5: 0.4, 6: 0.7, 7: 0.9, 8: 1.0, 9: 0.9, 10: 0.7, 11: 0.4, 12: 0.15}


def _side(points: list[int]) -> np.ndarray:
    """-1 for points on the image left of the face's midline, +1 on the right (mean-face x)."""
    from .mean_face import MEAN_FACE

    return np.sign(MEAN_FACE[points, 0])


def mouth_offsets(opening: float) -> np.ndarray:
    """(68, 3) displacement for a mouth opened by `opening` in [0, 1] (1 = a wide /a/)."""
    d = np.zeros((68, 3))
    o = float(np.clip(opening, 0.0, 1.0))
    d[_LOWER_LIP_OUTER, 1] += 0.24 * o
    d[_LOWER_LIP_INNER, 1] += 0.22 * o
    d[[61, 62, 63], 1] -= 0.02 * o
    d[_MOUTH_CORNERS, 1] += 0.07 * o
    d[_MOUTH_CORNERS, 0] -= 0.03 * o * _side(_MOUTH_CORNERS)  # corners come in as the jaw drops
    for idx, weight in _JAW_DROP.items():
        d[idx, 1] += 0.20 * o * weight
    return d


def emotion_offsets(label: str, intensity: float) -> np.ndarray:
    """(68, 3) displacement of one emotion at `intensity` in [0, 1]."""
    if label not in EMOTIONS:
        raise ValueError(f"unknown emotion {label!r}; known: {', '.join(EMOTIONS)}")
    k = float(np.clip(intensity, 0.0, 1.0))
    d = np.zeros((68, 3))
    if label == "happy":
        d[_MOUTH_CORNERS, 1] -= 0.07 * k
        d[_MOUTH_CORNERS, 0] += 0.06 * k * _side(_MOUTH_CORNERS)
        d[[49, 53, 55, 59], 1] -= 0.03 * k
        d[[40, 41, 46, 47], 1] -= 0.015 * k  # cheeks push the lower lids up
    elif label == "surprise":
        d[_BROWS, 1] -= 0.10 * k
        d[_UPPER_LIDS, 1] -= 0.025 * k
        d += mouth_offsets(0.35 * k)
    elif label == "sad":
        d[_INNER_BROWS, 1] -= 0.06 * k
        d[_MOUTH_CORNERS, 1] += 0.05 * k
    elif label == "angry":
        d[_BROWS, 1] += 0.05 * k
        d[_INNER_BROWS, 0] -= 0.04 * k * _side(_INNER_BROWS)
        d[_UPPER_LIDS, 1] += 0.01 * k
    elif label == "fear":
        d[_BROWS, 1] -= 0.06 * k
        d[_INNER_BROWS, 0] -= 0.03 * k * _side(_INNER_BROWS)
        d[_UPPER_LIDS, 1] -= 0.025 * k
        d[_MOUTH_CORNERS, 0] += 0.04 * k * _side(_MOUTH_CORNERS)
    elif label == "disgust":
        d[_UPPER_LIP, 1] -= 0.05 * k
        d[_INNER_BROWS, 1] += 0.03 * k
        d[[31, 32, 34, 35], 1] -= 0.02 * k
    elif label == "contempt":
        d[[54, 64], 1] -= 0.05 * k
        d[[54, 64], 0] += 0.04 * k
    return d


def parse_emotion(spec: str) -> dict[str, float]:
    """'happy=0.7,surprise=0.3' (or 'happy', meaning intensity 1) -> {'happy': 0.7, 'surprise': 0.3}.
    Raises ValueError naming the bad part: an unknown label (with the known ones) or an intensity outside [0, 1]."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        label, _, value = part.partition("=")
        label = label.strip().lower()
        if label not in EMOTIONS:
            raise ValueError(f"unknown emotion {label!r} in {spec!r}; known: {', '.join(EMOTIONS)}")
        try:
            intensity = float(value) if value else 1.0
        except ValueError:
            raise ValueError(f"intensity {value!r} of {label!r} in {spec!r} is not a number") from None
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity {intensity} of {label!r} in {spec!r} is outside [0, 1]")
        mix[label] = intensity
    return mix or {"neutral": 1.0}


def mix_offsets(mix: dict[str, float]) -> np.ndarray:
    """Displacement of an emotion mix: the sum of its parts."""
    return sum((emotion_offsets(k, v) for k, v in mix.items()), np.zeros((68, 3)))


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2|3) -> (...): the inner-lip gap (points 61-63 against 67-65) over the mouth width (48 to 54).
    0 for closed lips, ~0.1 for speech, ~0.5 for a wide-open mouth; independent of face size and position."""
    xy = np.asarray(landmarks, dtype=np.float64)[..., :2]
    gap = np.linalg.norm(xy[..., [61, 62, 63], :] - xy[..., [67, 66, 65], :], axis=-1).mean(-1)
    width = np.linalg.norm(xy[..., 48, :] - xy[..., 54, :], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 0, gap / np.where(width > 0, width, 1.0), np.nan)
