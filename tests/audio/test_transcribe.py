"""Transcripts with word times, on tiny locally built models (tests/support/tiny_asr.py).

The tiny Whisper has random weights but a steered decoder: every VAD segment decodes to four lowercase words,
so words are always produced and both word-timing paths run on real text. Assertions hold for any timing the
random cross-attention or CTC emissions give, but fail when the bookkeeping (bounds, text/word agreement,
clamping, records) is wrong.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from space.audio.transcribe import (
    Transcriber,
    Transcript,
    Word,
    _fill_times,
    resolve_align_dir,
    resolve_model_dir,
)
from space.errors import MissingWeightsError, SilentAudioError

DURATION = 3.0


def check_transcript(tr: Transcript, duration: float) -> None:
    """Invariants of any transcript: types, word/text agreement, times in bounds and ordered, clean record."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert isinstance(tr, Transcript)
    assert isinstance(tr.language, str) and tr.language in _LANGUAGE_CODES
    assert tr.text == tr.text.strip()
    # the words are the text's words: one decode, timed afterwards
    assert " ".join(w.text for w in tr.words) == tr.text
    for w in tr.words:
        assert isinstance(w, Word) and w.text and w.text == w.text.strip()
        assert all(isinstance(t, float) and math.isfinite(t) for t in (w.start, w.end))
        assert 0.0 <= w.start <= w.end <= duration
        assert w.score is None or (math.isfinite(w.score) and 0.0 <= w.score <= 1.0)
    starts = [w.start for w in tr.words]
    assert starts == sorted(starts)  # DTW and CTC paths are monotonic
    for s in tr.segments:
        assert set(s) == {"start", "end", "text"}
        assert 0.0 <= s["start"] <= s["end"] <= duration
    for w in tr.words:  # every word lies in a reported segment (10 ms slack: mel frames vs sample rounding)
        assert any(s["start"] - 0.01 <= w.start and w.end <= s["end"] + 0.01 for s in tr.segments)
    record = tr.to_record()
    back = json.loads(json.dumps(record, allow_nan=False))
    assert back == record and back["word_timing"] == tr.word_timing
    assert [w["text"] for w in back["words"]] == [w.text for w in tr.words]
    for w in back["words"] + back["segments"]:
        assert w["start"] == round(w["start"], 3) and w["end"] == round(w["end"], 3)


# -- finding the model -----------------------------------------------------------------------------------------


def test_local_folder_resolves_to_itself(tiny_whisper_dir, tiny_aligner_dir):
    assert resolve_model_dir(tiny_whisper_dir) == str(Path(tiny_whisper_dir).resolve())
    assert resolve_align_dir(tiny_aligner_dir) == str(Path(tiny_aligner_dir).resolve())


def _to_memory(folder: str, name: str) -> str:
    fs = fsspec.filesystem("memory")
    for path in Path(folder).iterdir():
        fs.pipe(f"/models/{name}/{path.name}", path.read_bytes())
    return f"memory://models/{name}"


def test_fsspec_uri_is_copied_once_then_reused(tiny_whisper_dir, tmp_path, monkeypatch):
    uri = _to_memory(tiny_whisper_dir, "copied-once")
    copies = []
    original = MemoryFileSystem.get_file

    def counting(self, rpath, lpath, *args, **kwargs):
        copies.append(rpath)
        return original(self, rpath, lpath, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "get_file", counting)
    first = resolve_model_dir(uri, cache_dir=tmp_path)
    assert Path(first).parent == tmp_path
    names = {p.name for p in Path(tiny_whisper_dir).iterdir()}
    assert {p.name for p in Path(first).iterdir() if not p.name.startswith(".")} == names
    assert (Path(first) / "model.bin").read_bytes() == (Path(tiny_whisper_dir) / "model.bin").read_bytes()
    assert len(copies) == len(names)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]  # the temporary folder was renamed

    assert resolve_model_dir(uri, cache_dir=tmp_path) == first
    assert len(copies) == len(names)  # reused: nothing copied again

    # a changed remote file (other size) is noticed and the folder copied afresh
    fsspec.filesystem("memory").pipe("/models/copied-once/preprocessor_config.json", b"{}")
    assert resolve_model_dir(uri, cache_dir=tmp_path) == first
    assert len(copies) == 2 * len(names)
    assert (Path(first) / "preprocessor_config.json").read_bytes() == b"{}"


def test_cache_folder_defaults_under_space_cache(tiny_aligner_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_CACHE", str(tmp_path))
    local = resolve_align_dir(_to_memory(tiny_aligner_dir, "aligner"))
    assert Path(local).parent == tmp_path / "whisper"
    assert (Path(local) / "vocab.json").is_file()


def test_transcriber_loads_from_fsspec_uri(tiny_whisper_dir, transcriber, speech3, tmp_path):
    remote = Transcriber(_to_memory(tiny_whisper_dir, "transcriber"), cache_dir=tmp_path)
    assert Path(remote.model_dir).parent == tmp_path
    assert remote.describe()["model_sha256"] == transcriber.describe()["model_sha256"]
    assert remote.transcribe(speech3).to_record() == transcriber.transcribe(speech3).to_record()


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingWeightsError) as err:
        resolve_model_dir(str(missing))
    assert str(missing) in str(err.value) and "no such folder" in err.value.reason
    assert err.value.as_record()["kind"] == "missing_weights"


def test_folder_without_model_bin_names_the_file(tiny_whisper_dir, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_whisper_dir, partial)
    (partial / "model.bin").unlink()
    with pytest.raises(MissingWeightsError) as err:
        resolve_model_dir(str(partial))
    assert f"model.bin missing in {partial}" in err.value.reason
    assert "tokenizer.json" not in err.value.reason  # only what is missing


def test_aligner_folder_without_vocab_names_the_file(tiny_aligner_dir, tmp_path):
    partial = tmp_path / "aligner"
    shutil.copytree(tiny_aligner_dir, partial)
    (partial / "vocab.json").unlink()
    with pytest.raises(MissingWeightsError, match="vocab.json missing"):
        resolve_align_dir(str(partial))


def test_remote_folder_without_model_bin_names_uri_and_file(tiny_whisper_dir, tmp_path):
    uri = _to_memory(tiny_whisper_dir, "no-model-bin")
    fsspec.filesystem("memory").rm("/models/no-model-bin/model.bin")
    with pytest.raises(MissingWeightsError) as err:
        resolve_model_dir(uri, cache_dir=tmp_path)
    assert f"model.bin missing in {uri}" in err.value.reason
    assert not list(tmp_path.iterdir())  # nothing copied
    with pytest.raises(MissingWeightsError, match="no such folder"):
        resolve_model_dir("memory://models/never-written", cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["large-v3", "tiny", "no-such-model", "someone/no-such-repo"])
def test_bare_names_are_only_looked_up_in_the_hf_cache(name, tmp_path, monkeypatch):
    import huggingface_hub.constants

    empty = tmp_path / "hf"
    empty.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(empty))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingWeightsError) as err:
        resolve_model_dir(name)
    assert err.value.source == name
    reason = err.value.reason
    assert "pass a folder or an s3:// URI" in reason
    if name == "no-such-model":
        assert "not a faster-whisper model name" in reason
    else:
        assert f"not in the Hugging Face cache at {empty}" in reason


# -- transcribing ----------------------------------------------------------------------------------------------


def test_transcript_with_whisper_word_times(transcriber, speech3):
    tr = transcriber.transcribe(speech3, "speech.wav")
    check_transcript(tr, DURATION)
    assert tr.word_timing == "whisper"
    assert len(tr.words) >= 4 and tr.segments  # the steered decoder: 4 words per VAD segment
    assert all(w.score is not None for w in tr.words)  # Whisper token probabilities, nothing interpolated
    assert transcriber.transcribe(speech3).to_record() == tr.to_record()  # deterministic


def test_transcript_with_aligner_word_times(aligned_transcriber, speech3):
    tr = aligned_transcriber.transcribe(speech3, "speech.wav")
    check_transcript(tr, DURATION)
    assert tr.word_timing == "align"
    assert len(tr.words) >= 4


def test_given_language_is_used(tiny_whisper_dir, asr_cache, speech3):
    tr = Transcriber(tiny_whisper_dir, language="de", cache_dir=asr_cache).transcribe(speech3)
    assert tr.language == "de"
    check_transcript(tr, DURATION)


def test_aligner_failure_falls_back_to_whisper_timing(aligned_transcriber, speech3, monkeypatch):
    import whisperx

    def unaligned(transcript, *args, **kwargs):  # what whisperx returns when it "resorts to original"
        return {"segments": [dict(s, words=[]) for s in transcript], "word_segments": []}

    monkeypatch.setattr(whisperx, "align", unaligned)
    tr = aligned_transcriber.transcribe(speech3)
    assert tr.word_timing == "align+whisper"
    check_transcript(tr, DURATION)
    assert tr.words


def test_times_past_the_end_are_clamped(aligned_transcriber, monkeypatch):
    import whisperx

    from space.synth.speech import synthesize_speech

    audio = synthesize_speech(2.0, seed=3).audio.astype(np.float32)

    def overshooting(transcript, *args, **kwargs):
        seg = transcript[0]
        words = [
            {"word": w, "start": seg["start"] + i, "end": seg["end"] + 5.0, "score": 0.5}
            for i, w in enumerate(seg["text"].split())
        ]
        words[1] = {"word": words[1]["word"]}  # no time: whisperx leaves such words without start/end
        sub = {"start": -1.0, "end": seg["end"] + 5.0, "text": seg["text"], "words": words}
        return {"segments": [sub], "word_segments": words}

    monkeypatch.setattr(whisperx, "align", overshooting)
    tr = aligned_transcriber.transcribe(audio)
    assert tr.word_timing == "align" and tr.words
    check_transcript(tr, 2.0)
    assert tr.words[-1].end == 2.0 and tr.segments[0]["start"] == 0.0
    assert tr.words[1].score is None  # interpolated


def test_silent_audio_is_an_error_naming_the_source(transcriber):
    with pytest.raises(SilentAudioError) as err:
        transcriber.transcribe(np.zeros(3 * 16000, np.float32), "quiet.wav")
    assert err.value.source == "quiet.wav" and err.value.kind == "silent_audio"
    with pytest.raises(SilentAudioError, match="empty.wav: audio has no samples"):
        transcriber.transcribe(np.zeros(0, np.float32), "empty.wav")


def test_no_speech_gives_an_empty_transcript(transcriber):
    noise = 0.05 * np.random.default_rng(0).standard_normal(3 * 16000).astype(np.float32)  # about -26 dBFS
    tr = transcriber.transcribe(noise, "noise.wav")
    assert tr.text == "" and tr.words == [] and tr.segments == []
    assert json.loads(json.dumps(tr.to_record()))["words"] == []


def test_fill_times_interpolates_between_neighbours():
    raw = [
        {"word": "a", "start": 1.0, "end": 1.2, "score": 0.9},
        {"word": "bb"},
        {"word": "cccc"},
        {"word": "d", "start": 1.8, "end": 2.0, "score": 0.8},
        {"word": "e", "start": float("nan")},
    ]
    words = _fill_times(raw, 0.5, 2.5)
    times = [t for w in words for t in (w.start, w.end)]
    assert times == pytest.approx([1.0, 1.2, 1.2, 1.4, 1.4, 1.8, 1.8, 2.0, 2.0, 2.5])
    assert [w.score for w in words] == [0.9, None, None, 0.8, None]


# -- versioning ------------------------------------------------------------------------------------------------


def test_describe_digest_is_stable_and_follows_model_bin(tiny_whisper_dir, tmp_path, asr_cache):
    folder = tmp_path / "model"
    shutil.copytree(tiny_whisper_dir, folder)
    a = Transcriber(str(folder), cache_dir=asr_cache).describe()
    b = Transcriber(str(folder), cache_dir=asr_cache).describe()
    assert a == b and len(a["model_sha256"]) == 16
    assert a["model_dir"] == str(folder.resolve()) and a["align_sha256"] is None
    assert {"device", "compute_type", "language", "align_model"} <= set(a)

    data = bytearray((folder / "model.bin").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    (folder / "model.bin").write_bytes(bytes(data))
    c = Transcriber(str(folder), cache_dir=asr_cache).describe()
    assert c["model_sha256"] != a["model_sha256"]


def test_describe_names_the_aligner(aligned_transcriber, tiny_aligner_dir):
    d = aligned_transcriber.describe()
    assert d["align_dir"] == str(Path(tiny_aligner_dir).resolve()) and len(d["align_sha256"]) == 16
    assert d["word_timing"] == "align"
