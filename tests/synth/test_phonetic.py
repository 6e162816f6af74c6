"""The phonetic corpus: reproducible plans, exact phone timings turned into mouth targets that close for bilabials
and round for rounded vowels, recording augmentation, and monologues with speech-driven head motion."""

import numpy as np
import pytest

from space.eval.articulation import articulation_report
from space.synth.augment import Recording, apply_recording, change_speed, random_recording
from space.synth.head_motion import accent_times, head_motion_statistics, speech_head_motion
from space.synth.phonetic import (
    PhoneticCorpusConfig, build_corpus, build_monologues, closed_lips, identity_base, plan_corpus,
)
from space.synth.tts import available_engines


def needs_engines():
    reasons = [reason for reason in available_engines().values() if reason is not None]
    if reasons:
        pytest.skip("; ".join(reasons))


def test_plans_are_seeded_and_mix_engines_languages_and_emotions():
    config = PhoneticCorpusConfig(utterances=200, seed=4)
    a, b = plan_corpus(config), plan_corpus(config)
    assert [p.text for p in a] == [p.text for p in b] and [p.voice for p in a] == [p.voice for p in b]
    assert [p.text for p in plan_corpus(PhoneticCorpusConfig(utterances=200, seed=5))] != [p.text for p in a]
    engines = {p.engine for p in a}
    assert engines == {"espeak-ng", "festival", "flite"}
    espeak_languages = {p.voice.split("+")[0] for p in a if p.engine == "espeak-ng"}
    assert len(espeak_languages) >= 8  # several languages, not English alone
    assert {p.emotion for p in a} >= {"neutral", "happy", "sad"}
    assert config.digest() != PhoneticCorpusConfig(utterances=200, seed=5).digest()


def test_identity_bases_have_closed_lips():
    for name in ("mean_face", "astronaut"):
        face = identity_base(name)
        assert abs(np.mean(face[[67, 66, 65], 1] - face[[61, 62, 63], 1])) < 1e-9  # the inner lips meet
    with pytest.raises(ValueError, match="identity base"):
        identity_base("nobody")
    opened = identity_base("mean_face").copy()
    opened[[65, 66, 67], 1] += 0.1
    assert np.allclose(closed_lips(opened)[[65, 66, 67], 1], identity_base("mean_face")[[65, 66, 67], 1])


@pytest.fixture(scope="module")
def corpus():
    needs_engines()
    return build_corpus(PhoneticCorpusConfig(utterances=12, seed=7))


def test_corpus_is_reproducible_and_its_targets_articulate(corpus):
    clips, errors = corpus
    assert not errors and len(clips) == 12
    again, _ = build_corpus(PhoneticCorpusConfig(utterances=12, seed=7))
    for first, second in zip(clips, again):  # the same seed: the same sentences, voices and phones
        assert first.clip_id == second.clip_id and first.plan == second.plan
        assert [p[2] for p in first.phones] == [p[2] for p in second.phones]
        if first.plan.engine == "espeak-ng":  # espeak-ng jitters by a few milliseconds of its own
            assert len(second.audio) == pytest.approx(len(first.audio), rel=0.03)
        else:  # Festival and Flite are exact
            assert np.array_equal(first.audio, second.audio)
            assert np.array_equal(first.normalized, second.normalized)
    reports = [articulation_report(c.normalized, c.phones, identity_base(c.plan.identity["base"])) for c in clips]
    bilabials = sum(r["bilabials"] for r in reports)
    closed = sum(r["closure_rate"] * r["bilabials"] for r in reports if r["bilabials"])
    assert bilabials >= 5 and closed / bilabials > 0.9  # the targets close the lips on /p/ /b/ /m/
    rounded = [r["rounded_width"] for r in reports if r["rounded"]]
    spread = [r["spread_width"] for r in reports if r["spread"]]
    assert np.mean(rounded) < 0.92 < np.mean(spread)  # narrower on /u/ /o/ /w/, wider on /i/ /e/
    for clip in clips:
        frames = round(len(clip.audio) / 16000 * 25)
        assert abs(len(clip.normalized) - frames) <= 1 and clip.identity.shape == (68, 3)
        assert clip.phones[-1][1] <= len(clip.audio) / 16000 + 0.05  # timings follow the speed change


def test_recording_augmentation_keeps_length_and_changes_the_sound():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    plain = apply_recording(clean, Recording(), np.random.default_rng(1))
    assert len(plain) == len(clean) and np.isclose(np.abs(plain).max(), 10 ** (-3 / 20), rtol=1e-3)
    noisy = apply_recording(clean, Recording(rt60=0.5, noise="pink", snr_db=5.0, peak_dbfs=-20.0), rng)
    assert len(noisy) == len(clean) and np.abs(noisy).max() <= 0.11
    assert abs(np.corrcoef(noisy, plain)[0, 1]) < 0.9  # room and noise really change it
    assert len(change_speed(clean, 1.1)) == pytest.approx(len(clean) / 1.1, abs=2)
    drawn = [random_recording(np.random.default_rng(i)) for i in range(50)]
    assert len({r.noise for r in drawn}) >= 4 and any(r.rt60 for r in drawn) and any(r.rt60 is None for r in drawn)


def test_head_motion_is_small_starts_at_rest_and_nods_on_accents():
    rng = np.random.default_rng(3)
    accents = np.arange(1.0, 19.0, 1.3)
    deltas = speech_head_motion(accents, 500, rng)
    assert deltas.shape == (500, 6) and np.allclose(deltas[0], 0)
    stats = head_motion_statistics(deltas)
    assert all(0.5 < s < 8 for s in stats["std"])  # a few degrees, not sweeps of 15
    assert all(0.05 < v < 0.8 for v in stats["speed"])
    # the pitch dips (a nod) after each accent: on average more down 0.1-0.3 s after an onset than before it
    calm = speech_head_motion(np.zeros(0), 500, np.random.default_rng(3))
    nod = deltas[:, 1] - calm[:, 1]
    after = np.mean([nod[int((a + 0.1) * 25) : int((a + 0.3) * 25)].mean() for a in accents])
    before = np.mean([nod[int((a - 0.4) * 25) : int((a - 0.2) * 25)].mean() for a in accents])
    assert after > before + 1.0


def test_monologues_follow_their_speech(corpus):
    clips, _ = corpus
    monologues = build_monologues(clips, 3, seed=1)
    assert len(monologues) == 3 and len({m.clip_id for m in monologues}) == 3
    for m in monologues:
        frames = round(len(m.audio) / 16000 * 25)
        assert abs(len(m.deltas) - frames) <= 1 and np.allclose(m.deltas[0], 0)
        assert len(m.accents) >= 1 and np.all(np.diff(m.accents) > 0)
        assert np.array_equal(accent_times(m.phones, m.audio), m.accents)
