from __future__ import annotations

import os
import uuid

import fsspec
import pytest

from space.io.subtitles import Cue, cues_from_transcript, to_srt, to_vtt, write_subtitles
from space.io.uri import write_bytes


def _timed(text: str, start: float, step: float = 0.3, length: float = 0.25) -> list[dict]:
    """Word records as Transcript.to_record() writes them (Whisper's leading space kept): one word every `step` s."""
    return [
        {"text": f" {w}", "start": round(start + i * step, 3), "end": round(start + i * step + length, 3), "score": 0.9}
        for i, w in enumerate(text.split())
    ]


def _transcript(words: list[dict], language: str = "en", segments: list[dict] | None = None) -> dict:
    text = "".join(w["text"] for w in words).strip()
    return {"language": language, "text": text, "segments": segments or [], "words": words, "word_timing": "align"}


def _check_layout(cues: list[Cue], max_chars: int = 42, max_lines: int = 2) -> None:
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= max_lines and all(0 < len(line) <= max_chars for line in lines), cue
        assert cue.end > cue.start, cue
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))


@pytest.fixture
def launch() -> dict:
    """Three sentences: a 2 s pause after the first; the second is too long for one cue; the third follows it."""
    first = _timed("Hello there, and welcome to our spring product launch.", 0.0)  # 0.0 .. 2.65
    second = _timed(
        "Today we will show you three new features that make your daily work faster and much more fun than before.",
        4.65,
    )  # 4.65 .. 10.6: 107 characters
    third = _timed("Let's begin right away.", 10.65)  # no pause before it: only the sentence end separates it
    return _transcript(first + second + third)


def test_cue_boundaries_and_wrapping(launch: dict) -> None:
    cues = cues_from_transcript(launch)
    assert cues == [
        Cue(0.0, 2.65, "Hello there, and welcome to\nour spring product launch."),  # ends at the pause
        Cue(4.65, 9.4, "Today we will show you three new features\nthat make your daily work faster and much"),
        Cue(9.45, 10.6, "more fun than before."),  # the rest of the sentence, after the character limit
        Cue(10.65, 11.8, "Let's begin right away."),  # a new sentence: a new cue, although there is no pause
    ]
    _check_layout(cues)


def test_limits_are_parameters_and_short_cues_are_held(launch: dict) -> None:
    cues = cues_from_transcript(launch, max_chars=20, max_lines=3)
    _check_layout(cues, max_chars=20, max_lines=3)
    assert cues[0] == Cue(0.0, 2.35, "Hello there, and\nwelcome to our\nspring product")  # 4 lines would not fit
    assert cues[1] == Cue(2.4, 3.1, "launch.")  # 0.25 s of speech held for min_seconds (0.7 s): the pause allows it
    # every word appears once, in order
    said = " ".join(w["text"].strip() for w in launch["words"])
    assert " ".join(c.text.replace("\n", " ") for c in cues) == said


def test_balanced_lines() -> None:
    (short,) = cues_from_transcript(_transcript(_timed("Welcome back.", 0.0)))
    assert short.text == "Welcome back."  # fits one line: one line
    words = _transcript(_timed("one two three four five six seven eight nine ten", 0.0))
    (cue,) = cues_from_transcript(words, max_chars=30)
    assert cue.text == "one two three four five\nsix seven eight nine ten"  # 23/24, not greedy's 27/20
    (tie,) = cues_from_transcript(_transcript(_timed("aa bb cc", 0.0)), max_chars=6)
    assert tie.text == "aa\nbb cc"  # equally long either way: the bottom line takes the extra word


def test_long_cues_are_cut_at_max_seconds() -> None:
    slow = _transcript(_timed("one two three four five six seven eight nine ten", 0.0, step=1.0, length=0.9))
    cues = cues_from_transcript(slow)
    assert cues == [Cue(0.0, 5.9, "one two three four five six"), Cue(6.0, 9.9, "seven eight nine ten")]
    assert [c.text for c in cues_from_transcript(slow, max_seconds=3.0)] == [
        "one two three", "four five six", "seven eight nine", "ten"
    ]  # fmt: skip


def test_min_seconds_never_reaches_into_the_next_cue() -> None:
    words = _timed("Hi.", 0.0, length=0.2) + _timed("Good morning everyone.", 0.5)
    cues = cues_from_transcript(_transcript(words), max_gap=0.2)  # 0.3 s of silence: a new cue
    assert cues[0] == Cue(0.0, 0.5, "Hi.")  # held to the next cue's start, not to 0.7 s
    assert cues[1].start == 0.5
    overlapping = [{"text": "one", "start": 0.0, "end": 1.5}, {"text": "two", "start": 1.0, "end": 1.2}]
    cues = cues_from_transcript(_transcript(overlapping), max_chars=3, max_lines=1)  # apart by width; times overlap
    assert cues == [Cue(0.0, 1.0, "one"), Cue(1.0, 1.7, "two")]


def test_languages_without_spaces() -> None:
    tokens = ["你好", "，", "欢迎", "来到", "我们的", "发布会", "。"] + ["今天", "我们", "介绍", "三个", "新", "功能", "。"]
    words = [{"text": t, "start": i * 0.3, "end": i * 0.3 + 0.25} for i, t in enumerate(tokens)]
    cues = cues_from_transcript(_transcript(words, language="zh"))
    assert [c.text for c in cues] == ["你好，欢迎来到我们的发布会。", "今天我们介绍三个新功能。"]
    narrow = cues_from_transcript(_transcript(words, language="zh"), max_chars=8)
    assert [c.text for c in narrow] == ["你好，欢迎来到\n我们的发布会。", "今天我们介绍\n三个新功能。"]
    spaced = cues_from_transcript(_transcript(words, language="en"))  # the same words as a spaced language
    assert spaced[0].text.startswith("你好 ， 欢迎")


def test_segments_without_words() -> None:
    long_text = (
        "This long segment has no word times, so its time is shared out over its words by their length, "
        "and it still has to be cut into cues that fit on screen."
    )
    segments = [{"start": 0.5, "end": 2.0, "text": " Hello world."}, {"start": 4, "end": 19, "text": long_text}]
    cues = cues_from_transcript({"language": "en", "text": "", "segments": segments, "words": []})
    assert cues[0] == Cue(0.5, 2.0, "Hello world.")
    rest = cues[1:]
    assert len(rest) == 3 and rest[0].start == 4.0 and rest[-1].end == 19.0
    assert all(a.end == b.start for a, b in zip(rest, rest[1:]))  # one segment: the cues follow on
    assert " ".join(c.text.replace("\n", " ") for c in rest) == long_text
    _check_layout(cues)
    zh = {"language": "zh", "segments": [{"start": 0.0, "end": 1.2, "text": "你好世界。"}], "words": []}
    assert cues_from_transcript(zh) == [Cue(0.0, 1.2, "你好世界。")]


@pytest.mark.parametrize(
    "transcript",
    [{}, {"language": "en", "text": "", "segments": [], "words": [], "word_timing": "align"},
     {"language": "en", "text": "no times", "segments": [{"start": 0.0, "end": 1.0, "text": "  "}], "words": []}],
)  # fmt: skip
def test_empty_transcript(transcript: dict) -> None:
    assert cues_from_transcript(transcript) == []


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"word 1 \('two'\)"):
        backwards = [{"text": "one", "start": 0, "end": 1}, {"text": "two", "start": 2, "end": 1}]
        cues_from_transcript(_transcript(backwards))
    with pytest.raises(ValueError, match="segment 0"):
        cues_from_transcript({"segments": [{"text": "hi", "start": None, "end": 1.0}]})
    with pytest.raises(ValueError, match="max_chars"):
        cues_from_transcript({}, max_chars=0)
    with pytest.raises(ValueError, match="max_seconds"):
        cues_from_transcript({}, max_seconds=0)


def test_srt_and_vtt_text() -> None:
    cues = [Cue(0.5, 2.0, "Hello there."), Cue(2.5, 4.25, "Two lines\nof <text> & more")]
    assert to_srt(cues) == (
        "1\n00:00:00,500 --> 00:00:02,000\nHello there.\n\n"
        "2\n00:00:02,500 --> 00:00:04,250\nTwo lines\nof <text> & more\n"
    )
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:02.000\nHello there.\n\n"
        "00:00:02.500 --> 00:00:04.250\nTwo lines\nof &lt;text&gt; &amp; more\n"
    )
    assert (to_srt([]), to_vtt([])) == ("", "WEBVTT\n")


def test_timestamps_past_an_hour_and_before_zero() -> None:
    cues = [Cue(-0.2, 0.0004, "a"), Cue(3723.4567, 3725.0, "b"), Cue(363_599.9996, 363_600.5, "c")]
    srt = to_srt(cues)
    assert "00:00:00,000 --> 00:00:00,000\na" in srt
    assert "01:02:03,457 --> 01:02:05,000\nb" in srt
    assert "101:00:00,000 --> 101:00:00,500\nc" in srt  # hours keep counting past 99
    assert "01:02:03.457 --> 01:02:05.000\nb" in to_vtt(cues)


def test_write_subtitles_locally_is_atomic(tmp_path, launch: dict) -> None:
    cues = cues_from_transcript(launch)
    written = write_subtitles(tmp_path / "renders" / "video-7", cues)
    stem = str(tmp_path / "renders" / "video-7")
    assert written == {"srt": f"{stem}.srt", "vtt": f"{stem}.vtt"}
    assert open(written["srt"], encoding="utf-8").read() == to_srt(cues)
    assert open(written["vtt"], encoding="utf-8").read() == to_vtt(cues)
    assert sorted(os.listdir(tmp_path / "renders")) == ["video-7.srt", "video-7.vtt"]  # no temporary files left
    assert write_subtitles(tmp_path / "zh", [Cue(0, 1, "你好")], formats="srt") == {"srt": str(tmp_path / "zh.srt")}
    assert (tmp_path / "zh.srt").read_bytes() == "1\n00:00:00,000 --> 00:00:01,000\n你好\n".encode()
    with pytest.raises(ValueError, match="ass"):
        write_subtitles(tmp_path / "x", cues, formats=("srt", "ass"))
    assert not (tmp_path / "x.srt").exists()  # nothing written when a format is unknown


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    dest = tmp_path / "video.srt"
    write_bytes(dest, b"old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_bytes(dest, b"new")
    assert dest.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["video.srt"]


def test_write_subtitles_to_memory_uri(launch: dict) -> None:
    root = f"memory://space-tests/{uuid.uuid4().hex}"
    cues = cues_from_transcript(launch)
    written = write_subtitles(f"{root}/video", cues, formats=("vtt",))
    assert written == {"vtt": f"{root}/video.vtt"}
    with fsspec.open(written["vtt"], "r", encoding="utf-8") as f:
        assert f.read() == to_vtt(cues)
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)
