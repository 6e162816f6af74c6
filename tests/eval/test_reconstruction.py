"""Self-reconstruction measures on synthetic inputs whose answer is known (no media, no models)."""

import numpy as np
import pytest

from space.eval.reconstruction import (
    align, face_box, face_similarity, mouth_correlation, mouth_distance, psnr, seam_band, seam_ratios,
    speaker_mean_mouth,
)
from space.face.mean_face import MEAN_FACE


def faces(openings, scale=100.0, shift=(128.0, 128.0)) -> np.ndarray:
    """(T, 68, 2) mean faces in pixels whose lower lip drops by `openings` (of the face's scale)."""
    base = MEAN_FACE[:, :2] * scale + shift
    out = np.repeat(base[None], len(openings), 0)
    out[:, 55:60, 1] += np.asarray(openings)[:, None] * scale
    out[:, 65:68, 1] += np.asarray(openings)[:, None] * scale
    return out


def similar(points: np.ndarray, angle_deg=12.0, scale=1.4, shift=(20.0, -9.0)) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return scale * points @ rot.T + shift


def test_mouth_correlation_finds_a_late_mouth():
    rng = np.random.default_rng(0)
    opening = np.clip(np.convolve(rng.random(120), np.ones(4) / 4, "same") * 0.1, 0, None)
    real = faces(opening)
    late = faces(np.concatenate([[opening[0]] * 2, opening[:-2]]))
    r, lag = mouth_correlation(real, late)
    assert lag == 2 and r > 0.99
    r_flat, _ = mouth_correlation(real, faces(np.full(120, 0.05)) + rng.normal(0, 0.01, (120, 68, 2)))
    assert abs(r_flat) < 0.4


def test_mouth_correlation_follows_a_real_video_whose_sound_is_late():
    """A real video whose mouth moves 6 frames before its sound (av_offset -6): a generated mouth in step with
    the sound is 6 frames behind the real one, which the search centred there finds and the plain one cannot."""
    rng = np.random.default_rng(1)
    opening = np.clip(np.convolve(rng.random(160), np.ones(4) / 4, "same") * 0.1, 0, None)
    real, generated = faces(opening), faces(np.concatenate([[opening[0]] * 6, opening[:-6]]))
    r, lag = mouth_correlation(real, generated, real_offset=-6)
    assert lag == 6 and r > 0.99
    assert mouth_correlation(real, generated)[0] < 0.9


def test_mouth_distance_ignores_pose_and_sees_the_mouth():
    opening = np.linspace(0, 0.08, 10)
    real = faces(opening)
    moved = np.stack([similar(f) for f in real])  # the same mouths, another head pose and size
    np.testing.assert_allclose(mouth_distance(real, moved), 0.0, atol=1e-9)
    np.testing.assert_allclose(align(moved[3], real[3]), real[3], atol=1e-9)
    still = mouth_distance(real, real[0])  # the photo held still: error grows with the real opening
    assert still[0] == pytest.approx(0.0) and np.all(np.diff(still) > 0)
    half = mouth_distance(real, faces(opening / 2))
    assert np.all(half[1:] < still[1:]) and np.all(half[1:] > 0)
    gone = real.copy()
    gone[4] = np.nan
    assert np.isnan(mouth_distance(gone, real)[4])


def test_the_speakers_mean_mouth_bounds_every_still_mouth():
    """A mouth that opens and shuts around half open, on a moving head: its own mean (found through the pose)
    is closer to it than the first frame's closed mouth or any other still opening, and a mouth that never
    moves is its own mean."""
    opening = 0.04 + 0.04 * np.sin(np.linspace(0, 6 * np.pi, 60))
    opening[0] = 0.0
    angles = np.linspace(-8, 8, 60)
    real = np.stack([similar(f, angle_deg=a, scale=1 + a / 50) for f, a in zip(faces(opening), angles)])
    mean = speaker_mean_mouth(real)
    np.testing.assert_allclose(mean[:48], real[0][:48])
    bound = np.nanmean(mouth_distance(real, mean))
    for held in (0.0, 0.02, 0.06, 0.08):
        assert bound < np.nanmean(mouth_distance(real, align(faces([held])[0], real[0])))
    assert bound > 0
    np.testing.assert_allclose(speaker_mean_mouth(np.repeat(real[:1], 5, 0)), real[0], atol=1e-9)
    gone = real.copy()
    gone[0] = np.nan  # the first frame with a face leads
    np.testing.assert_allclose(speaker_mean_mouth(gone)[:48], real[1][:48])
    with pytest.raises(ValueError, match="no frame"):
        speaker_mean_mouth(np.full((3, 68, 2), np.nan))


def test_face_similarity_and_psnr():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    box = face_box(np.array([[10.0, 10.0], [40.0, 50.0]]), image.shape)
    assert box == (5, 4, 45, 56)
    mse, ssim = face_similarity(image, image, box)
    assert mse == 0 and ssim == pytest.approx(1.0) and psnr(mse) == float("inf")
    noisy = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    mse, ssim = face_similarity(image, noisy, box)
    assert 25 < mse < 60 and ssim < 0.999 and 30 < psnr(mse) < 34
    noisier = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert face_similarity(image, noisier, box)[1] < ssim - 0.05


def test_seam_ratio_rises_on_a_tear_and_falls_on_a_smear():
    import cv2

    ys, xs = np.mgrid[0:128, 0:128]
    stripes = 128 + 60 * np.sin(2 * np.pi * (xs + ys) / 24.0)  # curtains, hair: texture crossing the boundary
    photo = np.repeat(stripes[..., None], 3, -1).astype(np.uint8)
    mask = np.zeros((128, 128), np.float32)
    cv2.circle(mask, (64, 64), 30, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 6)
    band = seam_band(mask)
    assert band.any() and not band[64, 64] and not band[0, 0]
    # The head moved and was pasted back without blending: a cut along its boundary.
    torn = np.where((mask > 0.5)[..., None], np.roll(photo, (6, 6), axis=(0, 1)), photo)
    smeared = cv2.GaussianBlur(photo, (0, 0), 3)
    same, cut, smear = seam_ratios([photo, torn, smeared], photo, band)
    assert same == pytest.approx(1.0) and cut > 1.05 and smear < 0.8
