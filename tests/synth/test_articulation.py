"""Phones -> articulatory targets -> coarticulated lip and jaw motion -> landmark displacements."""

import numpy as np
import pytest

from space.face.expression import mouth_opening
from space.face.mean_face import MEAN_FACE
from space.synth.articulation import (
    articulation_offsets, articulator_tracks, close_crossed_lips, frame_articulation, vowel_emphasis,
)
from space.synth.phones import ARTICULATORS, base_letters, from_arpabet, targets

APERTURE, JAW, WIDTH, TUCK = range(4)


def value(symbol: str, articulator: int) -> float:
    return targets(symbol)[0].values[articulator]


def test_ipa_and_arpabet_read_alike():
    for ipa, arpa in (("b", "B"), ("ɑ", "AA1"), ("u", "uw"), ("ʃ", "sh"), ("f", "F"), ("i", "iy0"), ("", "pau"),
                      ("j", "y")):
        assert targets(ipa) == targets(from_arpabet(arpa)), (ipa, arpa)
    assert base_letters("ɔ̃") == "ɔ" and base_letters("aː") == "a" and base_letters("tʰ") == "t"
    assert base_letters("ɯᵝ") == "ɯ" and base_letters("s.") == "s"


def test_phone_classes_pull_the_lips_the_right_way():
    # Bilabials close the lips (below rest) and dominate the aperture more than anything else does.
    for symbol in ("p", "b", "m"):
        assert value(symbol, APERTURE) < 0 and targets(symbol)[0].dominance[APERTURE] >= 15
    assert value("a", APERTURE) > value("e", APERTURE) > value("i", APERTURE)  # open, mid, close
    # Rounded vowels and /w/ narrow the mouth; /i/ spreads it; /f/ tucks the lower lip.
    for symbol in ("u", "o", "y", "w", "ʊ"):
        assert value(symbol, WIDTH) < -0.5, symbol
    assert value("i", WIDTH) > 0.5 and value("f", TUCK) == 1.0 and value("v", TUCK) == 1.0
    assert [t.kind for t in targets("aɪ")] == ["vowel", "vowel"]  # a diphthong: two targets
    assert targets("aɪ")[0].values[APERTURE] > targets("aɪ")[1].values[APERTURE]
    assert targets("ʘ")[0].kind == "lingual"  # a letter the tables lack: a weakly constraining consonant
    assert targets("-")[0].kind == "silence"  # no letters at all


def test_bilabials_close_the_lips_between_open_vowels():
    # "ama" at a brisk rate: the /m/ (60 ms) closes the lips although both neighbours open them wide.
    phones = [(0.0, 0.2, ""), (0.2, 0.36, "a"), (0.36, 0.42, "m"), (0.42, 0.58, "a"), (0.58, 0.8, "")]
    tracks = articulator_tracks(phones, 0.8)
    t = np.arange(len(tracks)) / 200
    during_m = tracks[(t > 0.38) & (t < 0.40), APERTURE]
    during_a = tracks[(t > 0.26) & (t < 0.30), APERTURE]
    assert during_m.max() < 0.05 and during_a.min() > 0.7
    # The same with a lingual consonant: the lips stay apart.
    lingual = articulator_tracks([(a, b, "t" if s == "m" else s) for a, b, s in phones], 0.8)
    assert lingual[(t > 0.38) & (t < 0.40), APERTURE].min() > 0.4


def test_rounding_spreads_ahead_over_consonants():
    # "stu": the /u/'s rounding reaches back over /s/ and /t/ (anticipatory coarticulation), "sti" does not.
    u = articulator_tracks([(0.0, 0.1, "s"), (0.1, 0.16, "t"), (0.16, 0.4, "u"), (0.4, 0.6, "")], 0.6)
    i = articulator_tracks([(0.0, 0.1, "s"), (0.1, 0.16, "t"), (0.16, 0.4, "i"), (0.4, 0.6, "")], 0.6)
    at_t = slice(int(0.12 * 200), int(0.15 * 200))
    assert u[at_t, WIDTH].mean() < -0.5 and i[at_t, WIDTH].mean() > 0.3


def test_silence_relaxes_to_rest_and_frames_average_the_tracks():
    phones = [(0.0, 0.3, "a"), (0.3, 1.5, "")]
    frames = frame_articulation(phones, 38, 25.0)
    assert frames.shape == (38, len(ARTICULATORS))
    assert frames[3, APERTURE] > 0.8 and np.abs(frames[-5:]).max() < 0.05


def test_offsets_open_round_spread_and_never_cross_the_lips():
    rest = np.array(MEAN_FACE)
    opened = rest + articulation_offsets(np.array([1.0, 1.0, 0.0, 0.0]))
    # the widest the corpus opens (aperture and jaw at 1: an emphasised open /a/); coarticulation and reduced
    # vowels keep most frames well below it, as real speech's 95th percentile of 0.25-0.45 on the PFLD meter
    assert 0.45 < mouth_opening(opened) < 0.65
    assert opened[8, 1] > rest[8, 1] + 0.1  # the chin drops
    width = lambda face: face[54, 0] - face[48, 0]  # noqa: E731
    assert width(rest + articulation_offsets(np.array([0.2, 0.2, -1.0, 0.0]))) < 0.8 * width(rest)
    assert width(rest + articulation_offsets(np.array([0.2, 0.2, 1.0, 0.0]))) > 1.1 * width(rest)
    pressed = close_crossed_lips(rest + articulation_offsets(np.array([-0.5, 0.1, 0.0, 0.0])))
    gaps = pressed[[67, 66, 65], 1] - pressed[[61, 62, 63], 1]
    assert np.all(gaps >= -1e-9) and np.all(gaps < 1e-6)  # pressed together, not through each other
    # Batched: (T, 4) -> (T, 68, 3)
    assert articulation_offsets(np.zeros((5, 4))).shape == (5, 68, 3)


def test_vowel_emphasis_follows_duration_and_level():
    sr = 16000
    audio = np.concatenate([0.5 * np.ones(int(0.3 * sr)), 0.05 * np.ones(int(0.1 * sr)), 0.2 * np.ones(int(0.15 * sr))])
    phones = [(0.0, 0.3, "a"), (0.3, 0.4, "ə"), (0.4, 0.55, "t")]
    emphasis = vowel_emphasis(phones, audio.astype(np.float32), sr)
    assert emphasis[0] > 1.0 > emphasis[1] and emphasis[2] == 1.0
    assert np.all((emphasis >= 0.5) & (emphasis <= 1.4))
    loud = frame_articulation(phones, 14, emphasis=emphasis)
    plain = frame_articulation(phones, 14)
    assert loud[3, APERTURE] > plain[3, APERTURE]


@pytest.mark.parametrize("symbol", ["b", "a", "u", "f", "ʃ", ""])
def test_every_articulator_stays_in_range(symbol):
    tracks = articulator_tracks([(0.0, 0.2, symbol), (0.2, 0.3, "a")], 0.3)
    assert np.all(tracks[:, APERTURE] >= -0.1) and np.all(tracks[:, APERTURE] <= 1.0)
    assert np.all(np.abs(tracks[:, WIDTH]) <= 1.0) and np.all((tracks[:, TUCK] >= 0) & (tracks[:, TUCK] <= 1))
