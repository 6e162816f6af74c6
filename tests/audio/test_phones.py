"""The phone recogniser: real CMU Sphinx model from the pocketsphinx wheel, on speech whose phones are known."""

from __future__ import annotations

import numpy as np
import pytest

from space.audio.phones import PhoneModel, PhoneModelError, PhoneRecognizer, Recognition
from space.synth.phones import targets


def needs_flite():
    from space.synth.tts import available_engines

    reason = available_engines().get("flite")
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def recognizer() -> PhoneRecognizer:
    return PhoneRecognizer()


def lip_class(symbol: str) -> str:
    kind = targets(symbol)[0].kind
    return kind if kind in ("vowel", "bilabial", "silence") else "consonant"


def classes_per_10ms(phones, count: int) -> np.ndarray:
    out = np.full(count, "silence", dtype=object)
    for start, end, symbol in phones:
        out[int(round(start * 100)) : int(round(end * 100))] = lip_class(symbol)
    return out


@pytest.fixture(scope="module")
def held_out_speech():
    """Flite's awb voice (a recorded speaker's diphones) on the sentences no model was trained on."""
    needs_flite()
    from space.synth.texts import HELD_OUT
    from space.synth.tts import Flite

    engine = Flite()
    return [engine.synthesize(text, voice="awb") for text in HELD_OUT]


def test_recognised_phones_match_what_the_synthesiser_said(recognizer, held_out_speech):
    """Frame by frame, the lip class of the recognised phone (vowel, bilabial, other consonant, pause) is the
    synthesiser's own in most of the time (0.71-0.93 per sentence when written): the phones are heard, not
    guessed from loudness (an energy threshold cannot tell /m/ from /a/)."""
    agreement, bilabials_found = [], 0
    for utterance in held_out_speech:
        recognition = recognizer.recognize(utterance.audio)
        assert recognition.words and recognition.method in ("aligned", "aligned in pieces", "dictionary")
        count = int(len(utterance.audio) / 160)
        truth = classes_per_10ms(utterance.phones, count)
        heard = classes_per_10ms(recognition.phones, count)
        agreement.append(float(np.mean(truth == heard)))
        bilabials_found += int(np.sum((truth == "bilabial") & (heard == "bilabial")))
    assert np.mean(agreement) > 0.7, agreement
    assert min(agreement) > 0.55, agreement
    assert bilabials_found > 30  # 10 ms frames where both say /p b m/


def test_phones_are_timed_in_order_and_reproducible(recognizer, held_out_speech):
    audio = held_out_speech[0].audio
    a = recognizer.recognize(audio)
    recognizer.recognize(held_out_speech[3].audio)  # pocketsphinx's decoders keep state across utterances
    assert recognizer.recognize(audio) == a  # same input, same phones (the dither is seeded by the input)
    starts = [p[0] for p in a.phones]
    assert starts == sorted(starts)
    assert all(end > start for start, end, _ in a.phones)
    assert a.phones[-1][1] <= len(audio) / 16000 + 0.02


def test_silence_and_scraps_give_no_phones(recognizer):
    for audio in (np.zeros(16000 * 2, np.float32), np.zeros(800, np.float32), np.zeros(0, np.float32)):
        assert recognizer.recognize(audio) == Recognition([], [], "aligned")


def test_noise_does_not_crash(recognizer):
    noise = np.random.default_rng(0).normal(0, 0.05, 16000 * 2).astype(np.float32)
    recognition = recognizer.recognize(noise)
    assert all(end >= start for start, end, _ in recognition.phones)


def test_failed_alignment_falls_back_to_pieces_then_dictionary(recognizer, held_out_speech, monkeypatch):
    """pocketsphinx's aligner gives up on some long utterances: the words are then aligned between pauses, and
    a piece that fails too gets each word's dictionary phones over the word's decoded time."""
    audio = np.concatenate([held_out_speech[1].audio, np.zeros(8000, np.float32), held_out_speech[2].audio])
    real_align = PhoneRecognizer.align
    calls = []

    def whole_fails(self, audio, words):
        calls.append(len(words))
        if len(calls) == 1:
            raise RuntimeError("Failed to stop utterance processing")
        return real_align(self, audio, words)

    monkeypatch.setattr(PhoneRecognizer, "align", whole_fails)
    pieces = recognizer.recognize(audio)
    assert pieces.method == "aligned in pieces" and len(calls) >= 3  # the whole, then two or more pieces
    assert any(lip_class(s) == "bilabial" for _, _, s in pieces.phones)

    def always_fails(self, audio, words):
        raise RuntimeError("Failed to stop utterance processing")

    monkeypatch.setattr(PhoneRecognizer, "align", always_fails)
    spread = recognizer.recognize(audio)
    assert spread.method == "dictionary"
    assert spread.words == pieces.words  # the same decoded words, their phones spread instead of aligned
    spoken = [p for p in spread.phones if p[2]]
    assert spoken and spoken[0][0] >= spread.words[0][0] - 1e-6 and spoken[-1][1] <= spread.words[-1][1] + 1e-6


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(PhoneModelError) as info:
        PhoneRecognizer(PhoneModel.default(str(tmp_path)))
    assert str(tmp_path) in str(info.value) and info.value.kind == "missing_weights"
