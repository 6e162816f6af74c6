"""Subtitles (SRT, WebVTT) for rendered videos, from a transcript record with word times.

The input is `space.audio.transcribe.Transcript.to_record()`: {"language", "text", "segments": [{"start", "end",
"text"}], "words": [{"text", "start", "end", "score"}], "word_timing"}, times in seconds. Words are grouped into
cues by broadcast-subtitle conventions: at most `max_lines` lines of at most `max_chars` characters, at most
`max_seconds` on screen, a new cue after a pause or at the end of a sentence, and at least `min_seconds` on screen
where the next cue leaves room.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from space.io.uri import write_bytes

# Languages written without spaces between words (whisper language codes): their words join with "".
_NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "yue"})
_SENTENCE_END = ".!?。！？…"
_CLOSERS = "\"'”’»)]}」』）"  # a closing quote or bracket may follow the sentence-ending mark


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen from `start` to `end` (seconds); `text` has at most one line break per extra line."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class _Word:
    text: str
    start: float  # seconds
    end: float


# --------------------------------------------------------------------------------------------------------------
# Words from the transcript


def _joiner(language: object) -> str:
    primary = str(language or "").lower().replace("_", "-").split("-")[0]
    return "" if primary in _NO_SPACE_LANGUAGES else " "


def _times(item: Mapping, what: str) -> tuple[float, float]:
    """(start, end) of a word or segment record; ValueError naming it when they are not finite with end >= start."""
    try:
        start, end = float(item["start"]), float(item["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"transcript {what}: needs numeric 'start' and 'end' seconds, got {dict(item)!r}") from exc
    if not (math.isfinite(start) and math.isfinite(end)) or end < start or start < 0:
        raise ValueError(f"transcript {what}: times must be finite seconds with 0 <= start <= end, got {start}..{end}")
    return start, end


def _records(transcript: Mapping, key: str) -> list[Mapping]:
    items = transcript.get(key) or []
    if not isinstance(items, Sequence) or not all(isinstance(i, Mapping) for i in items):
        raise ValueError(f"transcript {key!r}: must be a list of records (dicts), got {type(items).__name__}")
    return list(items)


def _timed_words(records: list[Mapping]) -> list[_Word]:
    words = []
    for index, record in enumerate(records):
        text = str(record.get("text") or "").strip()  # Whisper words carry their leading space
        if text:
            words.append(_Word(text, *_times(record, f"word {index} ({text!r})")))
    return words


def _segment_words(records: list[Mapping], joiner: str) -> list[_Word]:
    """Words of segments that have no word times: each segment's time shared out by character count.

    An even speaking rate is the best guess without word times; languages without spaces split into characters.
    """
    words = []
    for index, record in enumerate(records):
        text = str(record.get("text") or "")
        tokens = text.split() if joiner else [c for c in text if not c.isspace()]
        if not tokens:
            continue
        start, end = _times(record, f"segment {index}")
        per_char = (end - start) / sum(len(t) for t in tokens)
        for token in tokens:
            words.append(_Word(token, start, start + per_char * len(token)))
            start += per_char * len(token)
    return words


# --------------------------------------------------------------------------------------------------------------
# Lines


def _width(texts: Sequence[str], joiner: str) -> int:
    return sum(len(t) for t in texts) + len(joiner) * max(len(texts) - 1, 0)


def _lines_needed(texts: Sequence[str], joiner: str, max_chars: int) -> float:
    """Fewest lines of at most `max_chars` that hold `texts` in order (greedy filling is optimal); inf if a word
    alone is too long."""
    lines, length = 1, 0
    for text in texts:
        if len(text) > max_chars:
            return math.inf
        grown = len(text) if length == 0 else length + len(joiner) + len(text)
        if grown <= max_chars:
            length = grown
        else:
            lines, length = lines + 1, len(text)
    return lines


def _balanced(texts: Sequence[str], joiner: str, n_lines: int) -> list[str]:
    """Split `texts` into exactly `n_lines` lines (n_lines <= len(texts)) that make the longest line shortest.

    Dynamic programme over break positions; among equally long splits the lower lines take the extra words, the
    bottom-heavy shape subtitle style guides prefer.
    """
    k = len(texts)
    chars = [0]  # chars[j]: characters of texts[:j], so a line's width is O(1)
    for text in texts:
        chars.append(chars[-1] + len(text))
    best = [[math.inf] * (k + 1) for _ in range(n_lines + 1)]  # best[m][j]: longest line of texts[:j] in m lines
    cut = [[0] * (k + 1) for _ in range(n_lines + 1)]
    best[0][0] = 0
    for m in range(1, n_lines + 1):
        for j in range(m, k + 1):
            for i in range(m - 1, j):  # the last line is texts[i:j]; ascending i and strict < keep it long
                cost = max(best[m - 1][i], chars[j] - chars[i] + len(joiner) * (j - i - 1))
                if cost < best[m][j]:
                    best[m][j], cut[m][j] = cost, i
    lines, j = [], k
    for m in range(n_lines, 0, -1):
        i = cut[m][j]
        lines.append(joiner.join(texts[i:j]))
        j = i
    return lines[::-1]


def _wrap(texts: Sequence[str], joiner: str, max_chars: int, max_lines: int) -> str:
    """The fewest lines (up to `max_lines`) of at most `max_chars`, balanced; a word longer than a line stays
    whole (best effort)."""
    n_lines = min(max(_lines_needed(texts, joiner, max_chars), 1), max_lines, len(texts))
    return "\n".join(_balanced(texts, joiner, int(n_lines)))


# --------------------------------------------------------------------------------------------------------------
# Cues


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_END


def _group(words: list[_Word], joiner: str, max_chars: int, max_lines: int, max_seconds: float,
           max_gap: float) -> list[list[_Word]]:  # fmt: skip
    """Words in cue-sized runs: a run ends before a word that would overflow it (text or time), after a pause, or
    after a sentence end once the run holds at least a third of a line (so "Yes. No." can share a cue)."""
    groups: list[list[_Word]] = []
    current: list[_Word] = []
    for word in words:
        if current:
            texts = [w.text for w in current]
            brk = (
                word.start - current[-1].end > max_gap
                or word.end - current[0].start > max_seconds
                or _lines_needed([*texts, word.text], joiner, max_chars) > max_lines
                or (_ends_sentence(texts[-1]) and _width(texts, joiner) >= max_chars / 3)
            )
            if brk:
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def _place(spans: list[tuple[float, float, str]], min_seconds: float) -> list[Cue]:
    """Cues from (start, end, text) spans in start order: at least `min_seconds` long unless the next cue starts
    sooner, never overlapping it, and lasting at least 1 ms after rounding to ms (as SRT/VTT write them)."""
    cues: list[Cue] = []
    previous_end = 0.0
    for index, (start, end, text) in enumerate(spans):
        start = round(max(start, previous_end), 3)
        following = spans[index + 1][0] if index + 1 < len(spans) else math.inf
        end = min(max(end, start + min_seconds), max(following, start))  # words may overlap the next cue
        end = round(max(end, start + 0.001), 3)
        cues.append(Cue(start, end, text))
        previous_end = end
    return cues


def _check_seconds(name: str, value: float, zero_ok: bool) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > 0 or (zero_ok and value == 0))
    if not ok:
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"cues_from_transcript: {name} must be finite seconds {bound}, got {value!r}")


def cues_from_transcript(
    transcript: Mapping,
    max_chars: int = 42,
    max_lines: int = 2,
    max_seconds: float = 6.0,
    max_gap: float = 1.0,
    min_seconds: float = 0.7,
) -> list[Cue]:
    """Subtitle cues, sorted and non-overlapping (end > start, ms precision), from a transcript record.

    A new cue starts when the next word would not fit in `max_lines` lines of `max_chars` characters, would make
    the cue longer than `max_seconds`, or follows a silence longer than `max_gap` seconds; a cue also ends after a
    sentence-ending mark (. ! ? 。 ！ ？ …) once it holds a third of a line. Each cue's text is wrapped into the
    fewest lines that fit, broken where the lines are most even. A cue shorter than `min_seconds` is held up to
    `min_seconds`, but never into the next cue. Words of zh, ja, th, lo, km, my and yue join without spaces.

    Without word times, the segments are used, each segment's time shared out over its words by length. No words
    and no segments (the transcript text alone has no times): [].
    """
    if not isinstance(transcript, Mapping):
        raise ValueError(f"transcript: expected a transcript record (dict), got {type(transcript).__name__}")
    for name, value, least in (("max_chars", max_chars, 1), ("max_lines", max_lines, 1)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"cues_from_transcript: {name} must be an integer >= {least}, got {value!r}")
    _check_seconds("max_seconds", max_seconds, zero_ok=False)
    _check_seconds("max_gap", max_gap, zero_ok=True)
    _check_seconds("min_seconds", min_seconds, zero_ok=True)
    joiner = _joiner(transcript.get("language"))
    words = _timed_words(_records(transcript, "words"))
    if not words:
        words = _segment_words(_records(transcript, "segments"), joiner)
    words.sort(key=lambda w: w.start)  # stable: equal starts keep the transcript's order
    groups = _group(words, joiner, max_chars, max_lines, max_seconds, max_gap)
    spans = [
        (group[0].start, max(w.end for w in group), _wrap([w.text for w in group], joiner, max_chars, max_lines))
        for group in groups
    ]
    return _place(spans, min_seconds)


# --------------------------------------------------------------------------------------------------------------
# SRT / WebVTT


def _timestamp(seconds: float, ms_separator: str) -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (VTT), rounded to ms, clamped at 0; hours grow past 99 if needed."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{ms_separator}{ms:03d}"


def _lines(text: str) -> str:
    # A blank line ends a cue block in both formats: drop empty lines inside a cue's text.
    return "\n".join(line for line in text.splitlines() if line.strip())


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip text: numbered blocks (1-based), `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line between cues."""
    blocks = [
        f"{n}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{_lines(c.text)}\n"
        for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # WebVTT cue text is markup: a bare & or < would be read as an entity or a tag (and "-->" ends a cue header).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text: a `WEBVTT` header, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` blocks separated by blank lines."""
    blocks = [
        f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n{_vtt_escape(_lines(c.text))}\n" for c in cues
    ]
    return "\n".join(["WEBVTT\n", *blocks])


_FORMATS = {"srt": to_srt, "vtt": to_vtt}


def write_subtitles(
    stem_uri: str | os.PathLike[str], cues: Sequence[Cue], formats: Iterable[str] | str = ("srt", "vtt")
) -> dict[str, str]:
    """Write `<stem_uri>.srt` / `<stem_uri>.vtt` (UTF-8, each atomically) and return {format: uri}.

    `stem_uri`: a local path or fsspec URI without the extension, e.g. "s3://bucket/renders/job-7/video".
    """
    stem = os.fspath(stem_uri)
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in _FORMATS]
    if unknown or not formats:
        raise ValueError(f"write_subtitles {stem}: formats must be among {sorted(_FORMATS)}, got {list(formats)}")
    cues = list(cues)
    return {fmt: write_bytes(f"{stem}.{fmt}", _FORMATS[fmt](cues).encode("utf-8")) for fmt in formats}
