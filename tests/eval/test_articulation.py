"""The articulation measure on mouths whose answer is known: lips that close for /m/ and round for /u/ pass it,
an energy follower (open on every loud sound, never narrower) fails it."""

import numpy as np

from space.eval.articulation import articulation_report
from space.face.expression import mouth_offsets
from space.face.mean_face import MEAN_FACE

PHONES = [(0.0, 0.2, "a"), (0.2, 0.32, "m"), (0.32, 0.52, "a"), (0.52, 0.72, "u"), (0.72, 1.0, "i")]


def mouth(opening: float, width: float) -> np.ndarray:
    """The mean face opened by `opening` with the mouth `width` times as wide (about its centre)."""
    face = MEAN_FACE + mouth_offsets(opening)
    centre = face[48:68, 0].mean()
    face[48:68, 0] = centre + width * (face[48:68, 0] - centre)
    return face


def frames(shapes: dict[str, tuple[float, float]], fps: float = 25.0) -> np.ndarray:
    times = (np.arange(int(fps)) + 0.5) / fps
    symbols = [next(s for start, end, s in PHONES if start <= t < end) for t in times]
    return np.stack([mouth(*shapes[s]) for s in symbols])


def test_an_articulating_mouth_closes_and_rounds():
    report = articulation_report(frames({"a": (0.6, 1.0), "m": (0.0, 1.0), "u": (0.25, 0.8), "i": (0.25, 1.1)}),
                                 PHONES, MEAN_FACE)
    assert report["bilabials"] == 1 and report["closure_rate"] == 1.0
    assert report["bilabial_opening"] < 0.06 < report["vowel_opening_around"]
    assert report["rounded"] == 1 and report["spread"] == 1
    assert report["rounded_width"] < 0.85 < 1.05 < report["spread_width"]


def test_an_energy_follower_fails_both():
    loud = (0.6, 1.0)
    report = articulation_report(frames({"a": loud, "m": loud, "u": loud, "i": loud}), PHONES, MEAN_FACE)
    assert report["closure_rate"] == 0.0
    assert abs(report["rounded_width"] - report["spread_width"]) < 1e-9


def test_short_bilabials_and_no_vowels_are_not_counted():
    report = articulation_report(np.repeat(MEAN_FACE[None], 25, 0), [(0.0, 0.03, "m"), (0.03, 1.0, "s")], MEAN_FACE)
    assert report["bilabials"] == 0 and np.isnan(report["closure_rate"]) and report["rounded"] == 0
