"""Timed phones -> lip and jaw motion per video frame -> landmark displacements: the mouth targets of the
phonetic corpus.

    phones [(start s, end s, symbol)]                    from a synthesiser that knows its own timings
      -> targets per phone (space.synth.phones): aperture, jaw, width, tuck, each with a dominance
      -> coarticulation (Cohen & Massaro 1993): at time t each articulator is the dominance-weighted mean of the
         targets around it; a target's dominance is flat over its phone's core and falls off as a Gaussian
         outside it, with a longer reach before the phone than after for the lip shape (anticipatory rounding)
      -> 200 Hz tracks, lightly smoothed (the jaw and lips have mass), averaged over each 25 fps frame
      -> (T, 4) ARTICULATORS -> (T, 68, 3) displacements of the normalized landmarks (`articulation_offsets`)

The displacement model is written in mean-face units (space.face.mean_face: mouth 0.5 wide, eye line to chin
1.15). A wide /a/ parts the inner lips by 0.24 (a mouth opening of ~0.5 of the mouth width, as real speakers' open
/a/; the project's PFLD meter reads 0.25-0.45 at the 95th percentile of real talking-head video), rounding
narrows the mouth by up to 28% and pushes the lips forward, spreading widens it by up to 16%, and the tuck lifts
the lower lip under the upper teeth.
"""

from __future__ import annotations

import numpy as np

from .phones import ARTICULATORS, targets

RATE = 200.0  # Hz of the internal tracks
#: Gaussian fall-off (seconds) of a target's dominance outside its phone's core, per articulator, (before, after)
REACH = {"aperture": (0.025, 0.022), "jaw": (0.060, 0.050), "width": (0.120, 0.060), "tuck": (0.030, 0.025)}
REST_DOMINANCE = 0.02  # a weak pull to rest everywhere, so long silences relax the mouth
SMOOTH = 0.012  # seconds: sigma of the light smoothing (articulator inertia)
MAX_GAP = 0.24  # inner-lip gap added by aperture 1 (mean-face units); 0.17 left the corpus's openings at
# about 60% of real speakers' (median 0.077 against 0.13 on the PFLD meter), and the model learnt small mouths
JAW_DROP = 0.14  # chin drop at jaw 1
_JAW_WEIGHTS = {4: 0.15, 5: 0.4, 6: 0.7, 7: 0.9, 8: 1.0, 9: 0.9, 10: 0.7, 11: 0.4, 12: 0.15}


def vowel_emphasis(phones, audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(len(phones),) how wide each vowel opens relative to its canonical target: speakers open the jaw further
    on prominent (long, loud) vowels and less on reduced ones. Prominence = duration x RMS level, over the
    utterance's median; the factor is 0.55 + 0.45 x that, kept within 0.5-1.4. Consonants and pauses get 1."""
    prominence = np.full(len(phones), np.nan)
    for i, (start, end, symbol) in enumerate(phones):
        if targets(symbol)[0].kind != "vowel":
            continue
        segment = np.asarray(audio[int(start * sample_rate) : int(end * sample_rate)], np.float64)
        if segment.size:
            prominence[i] = (end - start) * float(np.sqrt(np.mean(segment**2)))
    out = np.ones(len(phones))
    vowel = np.isfinite(prominence) & (prominence > 0)
    if vowel.any():
        relative = prominence[vowel] / np.median(prominence[vowel])
        out[vowel] = np.clip(0.55 + 0.45 * relative, 0.5, 1.4)
    return out


def _phone_targets(phones, emphasis=None):
    """Flatten phones into targets: (K,) centre, (K,) half core width, (K, 4) values, (K, 4) dominance."""
    centre, half, values, dominance = [], [], [], []
    for i, (start, end, symbol) in enumerate(phones):
        duration = max(float(end) - float(start), 1e-3)
        parts = targets(symbol)
        for part in parts:
            centre.append(float(start) + part.at * duration)
            half.append(0.5 * duration / len(parts) * 0.6)  # the core: the middle 60% of the phone's share
            value = np.array(part.values, np.float64)
            if emphasis is not None and part.kind == "vowel":
                value[:2] *= emphasis[i]  # aperture and jaw
            values.append(value)
            dominance.append(part.dominance)
    return np.array(centre), np.array(half), np.array(values, np.float64).reshape(-1, 4), \
        np.array(dominance, np.float64).reshape(-1, 4)


def articulator_tracks(phones, duration: float, rate: float = RATE, emphasis=None) -> np.ndarray:
    """(N, 4) articulator values at `rate` Hz over [0, duration): the coarticulated targets of `phones`
    (`emphasis`: a per-phone factor on the vowels' opening, `vowel_emphasis`)."""
    times = np.arange(int(np.ceil(duration * rate))) / rate
    out = np.zeros((len(times), 4))
    if not len(phones) or not len(times):
        return out
    centre, half, values, dominance = _phone_targets(phones, emphasis)
    offset = times[:, None] - centre[None]  # (N, K): + after the target's centre
    outside = np.maximum(np.abs(offset) - half[None], 0.0)
    for a, name in enumerate(ARTICULATORS):
        before, after = REACH[name]
        reach = np.where(offset < 0, before, after)
        weight = dominance[None, :, a] * np.exp(-0.5 * (outside / reach) ** 2)  # (N, K)
        out[:, a] = (weight @ values[:, a]) / (weight.sum(1) + REST_DOMINANCE)
    if SMOOTH > 0:
        from scipy.ndimage import gaussian_filter1d

        out = gaussian_filter1d(out, SMOOTH * rate, axis=0, mode="nearest")
    return out


def frame_articulation(phones, num_frames: int, fps: float = 25.0, rate: float = RATE, emphasis=None) -> np.ndarray:
    """(T, 4) articulators per video frame: the mean of the tracks over each frame's interval."""
    tracks = articulator_tracks(phones, num_frames / fps, rate, emphasis)
    edges = np.round(np.arange(num_frames + 1) * rate / fps).astype(int)
    sums = np.concatenate([np.zeros((1, 4)), np.cumsum(tracks, 0)])
    edges = np.clip(edges, 0, len(tracks))
    counts = np.maximum(edges[1:] - edges[:-1], 1)[:, None]
    return (sums[edges[1:]] - sums[edges[:-1]]) / counts


# Displacement bases in mean-face units, one (68, 3) array per articulator at value 1.
def _basis() -> dict[str, np.ndarray]:
    from ..face.mean_face import MEAN_FACE

    side = np.sign(MEAN_FACE[:, 0])
    gap = np.zeros((68, 3))
    gap[[61, 62, 63], 1] -= 0.15 * MAX_GAP  # the upper lip rises a little
    gap[[65, 66, 67], 1] += 0.85 * MAX_GAP  # the lower lip carries most of the opening
    gap[[56, 57, 58], 1] += 0.85 * MAX_GAP
    gap[[55, 59], 1] += 0.55 * MAX_GAP
    gap[[50, 51, 52], 1] -= 0.15 * MAX_GAP
    gap[[49, 53], 1] -= 0.08 * MAX_GAP
    gap[[48, 54, 60, 64], 1] += 0.25 * MAX_GAP  # the corners drop a little with the lower lip
    gap[[48, 54, 60, 64], 0] -= 0.03 * side[[48, 54, 60, 64]]  # and come in

    jaw = np.zeros((68, 3))
    for index, weight in _JAW_WEIGHTS.items():
        jaw[index, 1] += JAW_DROP * weight

    width = np.zeros((68, 3))  # +1 = spread; rounding is the negative, with protrusion added separately
    for points, amount in (([48, 54], 0.04), ([60, 64], 0.035), ([49, 53, 55, 59], 0.025), ([61, 63, 65, 67], 0.02),
                           ([50, 52, 56, 58], 0.01)):
        width[points, 0] += amount * side[points]
    width[[48, 54, 60, 64], 1] -= 0.01

    rounding = np.zeros((68, 3))  # at 1: fully rounded (the mouth 28% narrower, the lips forward)
    for points, amount in (([48, 54], 0.07), ([60, 64], 0.06), ([49, 53, 55, 59], 0.045), ([61, 63, 65, 67], 0.035),
                           ([50, 52, 56, 58], 0.02)):
        rounding[points, 0] -= amount * side[points]
    rounding[48:68, 2] -= 0.06 * (1.0 - np.abs(MEAN_FACE[48:68, 0]) / 0.25).clip(0.3, 1.0)

    tuck = np.zeros((68, 3))  # the lower lip up and back under the upper teeth
    tuck[[55, 56, 57, 58, 59], 1] -= 0.035
    tuck[[65, 66, 67], 1] -= 0.02
    tuck[[55, 56, 57, 58, 59, 65, 66, 67], 2] += 0.03
    return {"aperture": gap, "jaw": jaw, "spread": width, "round": rounding, "tuck": tuck}


_BASIS = None


def articulation_offsets(params: np.ndarray) -> np.ndarray:
    """(..., 4) ARTICULATORS -> (..., 68, 3) displacements of normalized landmarks, in mean-face units."""
    global _BASIS
    if _BASIS is None:
        _BASIS = _basis()
    p = np.asarray(params, np.float64)
    aperture, jaw, width, tuck = (p[..., i, None, None] for i in range(4))
    return (aperture * _BASIS["aperture"] + jaw * _BASIS["jaw"] + np.maximum(width, 0) * _BASIS["spread"]
            + np.maximum(-width, 0) * _BASIS["round"] + np.clip(tuck, 0, 1) * _BASIS["tuck"])


def close_crossed_lips(landmarks: np.ndarray) -> np.ndarray:
    """Lips never cross: where a lower inner-lip point rose above the upper one facing it (a bilabial pressing a
    photo's already closed lips), both meet half way. (..., 68, 3) -> a copy."""
    out = np.array(landmarks, np.float64, copy=True)
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        overlap = np.maximum(out[..., upper, 1] - out[..., lower, 1], 0.0)
        out[..., upper, 1] -= 0.5 * overlap
        out[..., lower, 1] += 0.5 * overlap
    return out
