"""Where the mouth's motion comes from: S2L, the phones a recogniser hears, or the two blended (the default).

    speech -> S2L(identity, emotion)                                  -> (T, 68, 3)  s2l
    speech -> timed phones (space.audio.phones: real-speech acoustic model)
           -> coarticulated lip/jaw targets (space.synth.articulation, the model that made S2L's training targets)
           -> on the photo's face with closed lips, plus the emotion's offsets  -> (T, 68, 3)  phonetic
    blend  =  (1 - PHONE_WEIGHT) * s2l + PHONE_WEIGHT * phonetic

Both are landmarks in the same normalized space (S2L was trained to output exactly what `phonetic_landmarks`
builds, from a synthesiser's phone times), so they blend point for point.
Why blend: S2L has heard only synthesised speech; the recogniser was trained on real voices. On the ten real
videos of benchmarks/eval_reconstruction.py (each video's own speech, mouth opening before rendering against
the real mouth's, ONNX meter) S2L alone reaches a median r of 0.40, the phones alone 0.46 and the blend 0.48:
their errors fall on different videos and words. The weight matters little (0.47 at 0.5, 0.48 at 0.6-0.9; it
was chosen on those same ten videos, which are all the real speech with real mouths the project has).
"""

from __future__ import annotations

import numpy as np

MOUTH_SOURCES = ("blend", "s2l", "phones")
PHONE_WEIGHT = 0.7
#: the recognised phones' lip rounding and lower-lip tuck, as a share of the corpus's full targets. Real speakers
#: round less in running speech than in a citation /u/: on the ten real videos the mouth narrows to 0.87-0.95 of
#: its median width at the 5th percentile; full rounding on the recognised phones narrowed it to 0.76 (half: 0.86),
#: and a warped photo whose corners pinch that far looks pursed. A full tuck (/f/ /v/) folds the lower lip back
#: out of the 2D warp's reach on a turned head. S2L regresses toward the mean and rounds less on its own.
ROUNDING = 0.5
TUCK = 0.5


def phonetic_landmarks(phones, audio: np.ndarray, identity: np.ndarray, emotion: np.ndarray,
                       num_frames: int, fps: float = 25.0) -> np.ndarray:
    """Timed IPA phones [(start s, end s, symbol)] of 16 kHz `audio` -> (T, 68, 3) normalized landmarks: the
    photo's face (`identity`, (68, 3)) with its lips closed at rest, the articulation of the phones and the
    offsets of the (8,) `emotion` vector."""
    from ..face.expression import EMOTIONS, mix_offsets
    from ..synth.articulation import articulation_offsets, close_crossed_lips, frame_articulation, vowel_emphasis
    from ..synth.phonetic import closed_lips

    emphasis = vowel_emphasis(phones, audio) if phones else None
    articulation = frame_articulation(phones, num_frames, fps, emphasis=emphasis)  # (T, 4) aperture jaw width tuck
    articulation[:, 2] = np.where(articulation[:, 2] < 0, ROUNDING * articulation[:, 2], articulation[:, 2])
    articulation[:, 3] *= TUCK
    mix = {label: float(v) for label, v in zip(EMOTIONS, emotion) if label != "neutral" and v > 0}
    rest = closed_lips(np.asarray(identity, np.float64)) + mix_offsets(mix)  # (68, 3)
    return keep_lip_thickness(close_crossed_lips(rest[None] + articulation_offsets(articulation)), identity)


#: (outer, inner) landmark pairs of the upper lip and of the lower lip, left to right in the middle
_UPPER_LIP = ((50, 61), (51, 62), (52, 63))
_LOWER_LIP = ((58, 67), (57, 66), (56, 65))
MIN_THICKNESS = 0.5  # of the photo's lip thickness


def keep_lip_thickness(landmarks: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """No lip thinner than MIN_THICKNESS of the photo's: where a tucked lower lip pressed against a closed
    mouth pushed the upper lip's inner edge above its outer edge (`close_crossed_lips` meets them half way), the
    warp would turn the lip inside out. Inner edges are held below the upper lip's minimum thickness, and the
    lower lip's outer edge below its inner edge by the same share. Beside the corners (49, 53 above, 59, 55
    below) the outer edge is held off the inner lip's line between the corner and its neighbour: an open
    photo's lower lip, raised by the whole gap to close it, met the corner there, and on a rounded vowel rose
    above it (a dark slit at the corner). (..., 68, 3) -> a copy (y grows downwards)."""
    out = np.array(landmarks, np.float64, copy=True)
    rest = np.asarray(identity, np.float64)
    for outer, inner in _UPPER_LIP:
        least = MIN_THICKNESS * max(rest[inner, 1] - rest[outer, 1], 0.0)
        out[..., inner, 1] = np.maximum(out[..., inner, 1], out[..., outer, 1] + least)
    for (outer, inner), (_, upper) in zip(_LOWER_LIP, _UPPER_LIP):
        out[..., inner, 1] = np.maximum(out[..., inner, 1], out[..., upper, 1])  # still closed, not crossed
        least = MIN_THICKNESS * max(rest[outer, 1] - rest[inner, 1], 0.0)
        out[..., outer, 1] = np.maximum(out[..., outer, 1], out[..., inner, 1] + least)
    for outer, corner, inner, below in _BESIDE_CORNERS:
        sign = 1.0 if below else -1.0
        least = MIN_THICKNESS * max(sign * (rest[outer, 1] - _line_y(rest, corner, inner, rest[outer, 0])), 0.0)
        edge = _line_y(out, corner, inner, out[..., outer, 0]) + sign * least
        out[..., outer, 1] = np.maximum(out[..., outer, 1], edge) if below else np.minimum(out[..., outer, 1], edge)
    return out


#: (outer point, mouth corner, inner point, on the lower lip?): the lips' outer edge beside each corner
_BESIDE_CORNERS = ((49, 60, 61, False), (53, 64, 63, False), (59, 60, 67, True), (55, 64, 65, True))


def _line_y(points: np.ndarray, a: int, b: int, x: np.ndarray) -> np.ndarray:
    """y of the line through points a and b at x ((..., 68, 3) points; x broadcast over the leading axes)."""
    xa, ya, xb, yb = points[..., a, 0], points[..., a, 1], points[..., b, 0], points[..., b, 1]
    dx = np.where(np.abs(xb - xa) < 1e-9, 1e-9, xb - xa)
    t = np.clip((x - xa) / dx, 0.0, 1.0)
    return ya + t * (yb - ya)


def blend(s2l: np.ndarray, phonetic: np.ndarray, weight: float = PHONE_WEIGHT) -> np.ndarray:
    """(T, 68, 3) x 2 -> (T, 68, 3); lengths may differ by a frame (the shorter one's last frame is held)."""
    count = len(s2l)
    if len(phonetic) < count:
        phonetic = np.concatenate([phonetic, np.repeat(phonetic[-1:], count - len(phonetic), 0)], 0)
    return (1.0 - weight) * s2l + weight * phonetic[:count]
