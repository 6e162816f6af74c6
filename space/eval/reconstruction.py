"""Self-reconstruction measures: a generated video against the real video it re-creates (numpy / OpenCV).

The protocol (benchmarks/eval_reconstruction.py): a real talking-head video's first frame is the photo, its own
speech the audio, its own head motion the pose; the generated frames and the real ones (cut to the same crop)
are then compared through an independent landmark meter (space.eval.onnx_face), so neither side is graded by
the pipeline's own landmark model.

    mouth_correlation     Pearson r of the two mouth openings (inner-lip gap over mouth width), best lag
                          within +-2 frames (of the real video's own audio-visual offset, when it has a clear
                          one: space.eval.lipsync.av_offset)
    mouth_distance        mean distance of the 20 mouth points after aligning each frame's landmarks on the
                          rigid points (eye corners, nose) with a similarity, over the inter-ocular distance:
                          pose errors do not count, only the mouth's shape and opening
    speaker_mean_mouth    the real speaker's own mean mouth, held still: about the closest a model that
                          predicts no motion could come (the mean minimises the squared distance; it
                          needs the whole real video, so no photo-driven model has it)
    face_similarity       squared error and SSIM of the grey face region (the real frame's landmark box,
                          enlarged); a video's PSNR comes from its mean squared error (`psnr`), so one frame
                          equal to the photo does not make it infinite
    seam_energy           mean gradient magnitude in the band where the renderer blends the moving head into
                          the still background, over the same band of the photo: a tear or a seam adds
                          gradient energy (ratio > 1), a smear removes it (ratio < 1)
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face.geometry import fit_similarity
from .lipsync import best_lag_correlation, mouth_opening

#: points a similarity is fitted on: eye corners and the nose (they do not move with speech)
RIGID_POINTS = np.array([36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35])
MOUTH_POINTS = np.arange(48, 68)


def mouth_correlation(real: np.ndarray, generated: np.ndarray, max_lag: int = 2,
                      real_offset: int = 0) -> tuple[float, int]:
    """(T, 68, 2) landmarks of both -> (r, lag) of their mouth openings; lag > 0: the generated mouth is late.
    `real_offset`: the real video's audio-visual offset (av_offset's, frames; < 0: its mouth moves before its
    sound): a generated mouth in sync with the sound is then late by -real_offset, and the lags searched are
    centred there."""
    n = min(len(real), len(generated))
    return best_lag_correlation(mouth_opening(real[:n]), mouth_opening(generated[:n]), max_lag, centre=-real_offset)


def align(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks moved by the similarity that puts their rigid points onto `reference`'s."""
    scale, rot, shift = fit_similarity(landmarks[RIGID_POINTS], reference[RIGID_POINTS])
    return scale * landmarks @ rot.T + shift


def mouth_distance(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """(T,) per frame: mean distance of the mouth points of `generated` (aligned on the rigid points of `real`)
    from those of `real`, over real's inter-ocular distance (36 to 45). NaN where either has no face.
    `generated` may be one (68, 2) face held for every frame (the still-photo baseline)."""
    real = np.asarray(real, np.float64)
    generated = np.asarray(generated, np.float64)
    if generated.ndim == 2:
        generated = np.repeat(generated[None], len(real), 0)
    n = min(len(real), len(generated))
    out = np.full(n, np.nan)
    for t in range(n):
        r, g = real[t], generated[t]
        if not (np.isfinite(r).all() and np.isfinite(g).all()):
            continue
        aligned = align(g, r)
        iod = float(np.linalg.norm(r[36] - r[45]))
        out[t] = float(np.linalg.norm(aligned[MOUTH_POINTS] - r[MOUTH_POINTS], axis=1).mean()) / max(iod, 1e-6)
    return out


def speaker_mean_mouth(real: np.ndarray) -> np.ndarray:
    """(T, 68, 2) real landmarks -> (68, 2): the first face with its mouth points replaced by the mean of every
    frame's mouth (each frame aligned on the first one's rigid points). Held still, it is about the best any
    model that does not predict the mouth's motion can do (the mean minimises the squared distance): it knows
    the speaker's average mouth, which no photo tells, but still misses every movement around it
    (`mouth_distance(real, speaker_mean_mouth(real))`)."""
    real = np.asarray(real, np.float64)
    seen = [t for t in range(len(real)) if np.isfinite(real[t]).all()]
    if not seen:
        raise ValueError("no frame has a face")
    first = real[seen[0]]
    mouths = np.stack([align(real[t], first)[MOUTH_POINTS] for t in seen])
    out = first.copy()
    out[MOUTH_POINTS] = mouths.mean(0)
    return out


def face_box(landmarks: np.ndarray, shape: tuple[int, int], grow: float = 0.15) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the landmarks' box grown by `grow` of its size on each side, inside the image."""
    lo, hi = np.nanmin(landmarks, 0), np.nanmax(landmarks, 0)
    pad = (hi - lo) * grow
    x0, y0 = np.maximum(np.floor(lo - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + pad), [shape[1], shape[0]]).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float64)


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error on 8-bit values."""
    return float("inf") if mse <= 0 else float(10 * np.log10(255.0**2 / mse))


def face_similarity(real: np.ndarray, generated: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(mean squared error, SSIM) of the grey `box` of two (H, W, 3) uint8 frames."""
    from skimage.metrics import structural_similarity

    x0, y0, x1, y1 = box
    a, b = _grey(real)[y0:y1, x0:x1], _grey(generated)[y0:y1, x0:x1]
    mse = float(np.mean((a - b) ** 2))
    ssim = float(structural_similarity(a, b, data_range=255.0, win_size=min(7, (min(a.shape) // 2) * 2 - 1)))
    return mse, ssim


def gradient_energy(image: np.ndarray, band: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the grey image over the pixels of `band` ((H, W) bool)."""
    grey = _grey(image)
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3)
    return float(np.hypot(gx, gy)[band].mean())


def seam_band(head_mask: np.ndarray, lo: float = 0.02, hi: float = 0.98) -> np.ndarray:
    """(H, W) bool: where a soft head mask blends (between lo and hi), widened by 2 px to include its edges."""
    band = ((head_mask > lo) & (head_mask < hi)).astype(np.uint8)
    return cv2.dilate(band, np.ones((5, 5), np.uint8)).astype(bool)


def seam_ratios(frames, photo: np.ndarray, band: np.ndarray) -> np.ndarray:
    """(T,) gradient energy of each frame's band over the photo's."""
    reference = gradient_energy(photo, band)
    return np.array([gradient_energy(frame, band) / max(reference, 1e-9) for frame in frames])
