"""The request table of a render job: one row per video, loaded and validated before any rendering.

`load_requests(uri)` reads a CSV (every cell as text), a Parquet file or a Delta table (a folder or prefix with a
`_delta_log`), local or on any fsspec URI, and checks EVERY row: the valid rows come back normalized
(`RequestSet.valid`, the fields of `REQUEST_FIELDS`), each invalid row becomes an error row with all of its
problems (`RequestSet.invalid`), and the job renders the valid ones. Only a table that cannot be used at all
(missing, unreadable, no `photo` or `audio` column) raises `RequestTableError`.

Columns (names case-insensitive, aliases in brackets; anything else is kept in `extra`):

    request_id [id]            optional; derived from the row's settings when blank (stable across reruns)
    photo [photo_uri, image]   required; a relative path is resolved against the table's folder
    audio [audio_uri, speech]  required; likewise
    emotion                    "neutral" or "happy=0.7,surprise=0.3"
    pose                       "natural", "static", keyframes "0:0,0,0; 2:15,-5,0", or a reference video
    yaw, pitch, roll           constant head turn in degrees
    blink                      blinks per minute, "off", or "at:1.2,3.4" (seconds)
    gaze                       "yaw,pitch" in degrees
    renderer                   "warp", "facevid2vid" or "liveportrait" (blank: the job's default)
    output [output_name]       the video's path under the job's output prefix (default "<request_id>.mp4")
    subtitles [subtitle_language]  blank: none; "auto"; or a Whisper language code
    seed                       optional int (default derived from request_id)

Rows are numbered from 0 in data order (`row`, and "row N" in messages); fully blank rows are skipped but keep
their number, so row N is the spreadsheet's line N + 2. This module does not import Ray.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipelines.stages.inputs import is_delta, join_uri, parent_uri, read_manifest
from space.animate.options import RENDERERS, AnimateOptions
from space.animate.pose import keyframe_motion
from space.errors import SpaceError
from space.face.expression import EMOTIONS, parse_emotion
from space.io.uri import file_size, is_remote, open_uri, to_local
from space.models.emotion import emotion_vector

__all__ = [
    "ERROR_SCHEMA",
    "REQUEST_FIELDS",
    "REQUEST_SCHEMA",
    "RequestSet",
    "RequestTableError",
    "animate_options",
    "derived_seed",
    "load_requests",
    "safe_output_name",
]

#: the fields of a normalized request, in order
REQUEST_FIELDS = (
    "request_id", "row", "photo", "audio", "emotion", "pose", "keyframes", "yaw", "pitch", "roll", "blink_rate",
    "blink_times", "gaze", "renderer", "output", "subtitles", "seed", "extra",
)
#: Arrow types of the normalized fields (an empty request list still makes a typed table)
REQUEST_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("row", pa.int64()), ("photo", pa.string()), ("audio", pa.string()),
    ("emotion", pa.string()), ("pose", pa.string()), ("keyframes", pa.string()), ("yaw", pa.float64()),
    ("pitch", pa.float64()), ("roll", pa.float64()), ("blink_rate", pa.float64()),
    ("blink_times", pa.list_(pa.float64())), ("gaze", pa.list_(pa.float64())), ("renderer", pa.string()),
    ("output", pa.string()), ("subtitles", pa.string()), ("seed", pa.int64()), ("extra", pa.string()),
])
#: the fields of a validation error row
ERROR_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("row", pa.int64()), ("source", pa.string()), ("stage", pa.string()),
    ("kind", pa.string()), ("reason", pa.string()), ("error", pa.bool_()),
])

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".mp4", ".mov", ".webm", ".mkv")
REFERENCE_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")

# canonical field -> accepted column names (lower case)
COLUMN_ALIASES = {
    "request_id": ("request_id", "id"),
    "photo": ("photo", "photo_uri", "image"),
    "audio": ("audio", "audio_uri", "speech"),
    "emotion": ("emotion",),
    "pose": ("pose",),
    "yaw": ("yaw",),
    "pitch": ("pitch",),
    "roll": ("roll",),
    "blink": ("blink",),
    "gaze": ("gaze",),
    "renderer": ("renderer",),
    "output": ("output", "output_name"),
    "subtitles": ("subtitles", "subtitle_language"),
    "seed": ("seed",),
}
_REQUIRED = ("photo", "audio")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# parse_keyframes syntax starts with "TIME:"; a path or URI never does (a drive letter or scheme is a letter)
_KEYFRAMES = re.compile(r"^\s*[0-9.]+\s*:")
_MAX_ANGLE = 90.0  # degrees: past a quarter turn the face leaves the photo's view, so a bigger number is a typo
_MAX_SEED = 2**63  # seeds are stored as int64
_MAX_OUTPUT = 255
_DEFAULTS = AnimateOptions()

# Whisper's language codes, used only when faster_whisper cannot be imported
_WHISPER_LANGUAGES = tuple(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy "
    "id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa "
    "sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split()
)


class RequestTableError(SpaceError):
    """The request table as a whole cannot be used: missing, unreadable, or without a required column."""

    kind = "bad_request_table"


class _Invalid(ValueError):
    """One problem of one row: its error kind and a message naming the field and the value."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


@dataclass
class RequestSet:
    """The outcome of validating a request table: normalized requests and error rows, both in row order."""

    uri: str
    valid: list[dict] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)

    def kinds(self) -> Counter:
        """How many invalid rows of each kind (for the job's summary)."""
        return Counter(e["kind"] for e in self.invalid)

    def valid_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.valid, schema=REQUEST_SCHEMA)

    def invalid_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.invalid, schema=ERROR_SCHEMA)


# ---------------------------------------------------------------------------------------------- the table


def _read_csv(uri: str) -> tuple[list[str], list[dict]]:
    """Column names and rows of a CSV, every cell as text (a campaign's ids like '007' must stay text)."""
    with open_uri(uri) as raw:
        lines = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")))
    if not lines:
        raise RequestTableError(uri, "the CSV is empty (no header row)")
    header, body = [h.strip() for h in lines[0]], lines[1:]
    width = len(header)
    records = []
    for cells in body:
        record = dict(zip(header, cells + [""] * (width - len(cells))))
        if len(cells) > width:  # more cells than columns: kept under None, reported as a problem of the row
            record[None] = cells[width:]
        records.append(record)
    unnamed = [i for i, h in enumerate(header) if not h]
    for i in unnamed:  # spreadsheets export trailing separators: a nameless column is fine while it is empty
        if any(i < len(cells) and cells[i].strip() for cells in body):
            raise RequestTableError(uri, f"column {i + 1} has no name but holds values")
    return [h for h in header if h], [{k: v for k, v in r.items() if k != ""} for r in records]


def _read_table(uri: str, storage_options: dict | None) -> tuple[list[str], list[dict]]:
    """Column names and rows of a CSV, Parquet or Delta request table; RequestTableError naming the reason."""
    lower = uri.lower().rstrip("/")
    if lower.endswith((".csv", ".parquet")):
        try:
            file_size(uri)
        except SpaceError as exc:
            raise RequestTableError(uri, exc.reason) from exc
        if lower.endswith(".csv"):
            try:
                return _read_csv(uri)
            except (UnicodeDecodeError, csv.Error, OSError) as exc:
                raise RequestTableError(uri, f"cannot read the CSV: {exc}") from exc
        reader = read_manifest
    else:
        try:
            delta = is_delta(uri)
        except Exception as exc:  # noqa: BLE001 - credentials, network: all name the table
            raise RequestTableError(uri, f"cannot list the table: {exc}") from exc
        if not delta:
            raise RequestTableError(
                uri, "no such file, or not a request table (a .csv or .parquet file, or a Delta table folder)"
            )
        reader = read_manifest if storage_options is None else functools.partial(_read_delta,
                                                                                 options=storage_options)
    try:
        table = reader(uri)
    except Exception as exc:  # noqa: BLE001 - a corrupt file or log is a bad table, whatever the library raised
        raise RequestTableError(uri, f"cannot read the table: {exc}") from exc
    return table.column_names, table.to_pylist()


def _read_delta(uri: str, options: dict) -> pa.Table:
    """A Delta table with explicit storage options (the shared reader takes them from the environment)."""
    from deltalake import DeltaTable

    from pipelines.lake import read_delta

    return read_delta(DeltaTable(uri if is_remote(uri) else to_local(uri), storage_options=options))


def _column_map(uri: str, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """(canonical field -> the table's column name, the other columns); errors for a missing or doubled column."""
    by_alias = {alias: canon for canon, aliases in COLUMN_ALIASES.items() for alias in aliases}
    mapped: dict[str, str] = {}
    extra: list[str] = []
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in seen:
            raise RequestTableError(uri, f"columns {seen[key]!r} and {name!r} have the same name")
        seen[key] = name
        canon = by_alias.get(key)
        if canon is None:
            extra.append(name)
        elif canon in mapped:
            raise RequestTableError(uri, f"columns {mapped[canon]!r} and {name!r} both give the {canon}")
        else:
            mapped[canon] = name
    missing = [c for c in _REQUIRED if c not in mapped]
    if missing:
        wanted = "; ".join(f"{c!r} (or {', '.join(map(repr, COLUMN_ALIASES[c][1:]))})" for c in missing)
        raise RequestTableError(uri, f"no {wanted} column (columns: {', '.join(names) or 'none'})")
    return mapped, extra


def _num(x: float) -> str:
    """A number as short text: 15.0 -> '15', 0.7 -> '0.7' (repr keeps every digit)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _text(value: Any) -> str:
    """A cell as stripped text: typed Parquet cells read like their CSV form (15.0 -> '15', null -> '')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return _num(value)
    return str(value).strip()


def _extra_value(value: Any) -> str | None:
    """A campaign column's cell as a JSON-safe string; blank and null both read as None."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, str):
        return value if value.strip() else None
    return _text(value) or None


# ---------------------------------------------------------------------------------------------- the fields


def safe_output_name(name: str) -> str:
    """The normalized output name ('.mp4' appended when it has no extension), or ValueError with the reason.

    The name is a path under the job's output prefix, so it must not leave it, collide with the job's own
    '.staging' / '_results' folders, or mean different things on S3, Linux, macOS and Windows.
    """
    name = name.strip()
    if not name:
        raise ValueError("is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("contains control characters")
    if "\\" in name:
        raise ValueError("contains a backslash (use '/' between folders)")
    if re.match(r"^[A-Za-z]:", name):
        raise ValueError("starts with a drive letter: outputs are relative to the output folder")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name):
        raise ValueError("is a URL: outputs are relative to the output folder")
    if name.startswith("/"):
        raise ValueError("is an absolute path: outputs are relative to the output folder")
    parts = name.split("/")
    if ".." in parts:
        raise ValueError("leaves the output folder")
    if "" in parts:
        raise ValueError("has an empty folder name ('//' or a trailing '/')")
    reserved = [p for p in parts if p.startswith((".", "_"))]
    if reserved:
        raise ValueError(f"part {reserved[0]!r} starts with '.' or '_' (reserved for the job's own files)")
    ext = posixpath.splitext(parts[-1])[1]
    if not ext:
        name += ".mp4"
    elif ext.lower() != ".mp4":
        raise ValueError(f"extension {ext!r}: outputs are .mp4 videos")
    if len(name) > _MAX_OUTPUT:
        raise ValueError(f"is {len(name)} characters long (at most {_MAX_OUTPUT})")
    return name


def _extension(uri: str) -> str:
    return posixpath.splitext(uri.rsplit("/", 1)[-1])[1].lower()


def _media(what: str, text: str, folder: str, extensions: tuple[str, ...], kind_name: str) -> str:
    """A photo / audio cell -> its URI (relative paths resolved against the table's folder)."""
    if not text:
        raise _Invalid("missing_value", f"{what} is blank")
    ext = _extension(text)
    if ext not in extensions:
        allowed = ", ".join(e[1:] for e in extensions)
        raise _Invalid(
            "unsupported_format", f"{what} {text!r}: extension {ext or '(none)'!r} is not {kind_name} ({allowed})"
        )
    return join_uri(folder, text)


def _emotion(text: str) -> str:
    """The canonical emotion text: 'happy=0.7,surprise=0.3' (labels in the order given), or 'neutral'."""
    if not text:
        return "neutral"
    try:
        mix = parse_emotion(text)
        emotion_vector(mix)
    except ValueError as exc:
        labels = [p.partition("=")[0].strip().lower() for p in text.split(",") if p.strip()]
        unknown = [label for label in labels if label not in EMOTIONS]
        if unknown:
            raise _Invalid(
                "unknown_emotion",
                f"emotion {text!r}: unknown label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(EMOTIONS)})",
            ) from None
        raise ValueError(f"emotion {text!r}: {exc}") from None
    # neutral is the remainder (space.models.emotion): 'neutral=0.3,happy=0.7' and 'happy=0' name no new input
    parts = [f"{label}={_num(v)}" for label, v in mix.items() if label != "neutral" and v > 0]
    return ",".join(parts) or "neutral"


def _pose(text: str, folder: str) -> tuple[str, str]:
    """(pose, keyframes): 'natural' / 'static' / a reference video URI, and keyframes text ('' when none)."""
    if not text or text.lower() in ("natural", "static"):
        return (text.lower() or "natural"), ""
    if _KEYFRAMES.match(text):
        try:
            keys = AnimateOptions(keyframes=text).keyframes
            keyframe_motion(list(keys), 1)  # the checks made at render time: distinct times, scale > 0
        except ValueError as exc:
            raise ValueError(f"pose {text!r}: {exc}") from None
        return "natural", "; ".join(re.sub(r"\s+", "", p) for p in text.split(";") if p.strip())
    ext = _extension(text)
    if not ext:
        raise ValueError(
            f"pose {text!r}: expected natural, static, keyframes 'TIME:YAW,PITCH,ROLL; ...' or a reference video"
        )
    if ext not in REFERENCE_EXTENSIONS:
        allowed = ", ".join(e[1:] for e in REFERENCE_EXTENSIONS)
        raise _Invalid("unsupported_format", f"pose {text!r}: extension {ext!r} is not a video ({allowed})")
    return join_uri(folder, text), ""


def _number(what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r}: not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r}: not a finite number")
    return value


def _angle(what: str, text: str) -> float:
    value = _number(what, text) if text else 0.0
    if abs(value) > _MAX_ANGLE:
        raise ValueError(f"{what} {text!r}: must be within +-{_MAX_ANGLE:g} degrees")
    return value


def _blink(text: str) -> tuple[float, list[float] | None]:
    """(blinks per minute, explicit blink times in seconds or None). Explicit times override the rate."""
    lower = text.lower()
    if not text:
        return _DEFAULTS.blink_rate, None
    if lower in ("off", "none"):
        return 0.0, None
    if lower.startswith("at:"):
        times = [_number(f"blink {text!r}: time", t.strip()) for t in text[3:].split(",") if t.strip()]
        if not times:
            raise ValueError(f"blink {text!r}: no times after 'at:' (e.g. 'at:1.2,3.4')")
        if any(t < 0 for t in times):
            raise ValueError(f"blink {text!r}: times must be >= 0 seconds")
        return _DEFAULTS.blink_rate, sorted(times)  # a set of moments: the order they are listed in is no input
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"blink {text!r}: expected blinks per minute, 'off' or 'at:1.2,3.4'") from None
    if not math.isfinite(rate):
        raise ValueError(f"blink {text!r}: not a finite number")
    AnimateOptions(blink_rate=rate)  # its range check
    return rate, None


def _gaze(text: str) -> list[float]:
    if not text:
        return list(_DEFAULTS.gaze)
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"gaze {text!r}: expected 'yaw,pitch' in degrees (e.g. '10,-5')")
    gaze = [_number("gaze", p.strip()) for p in parts]
    AnimateOptions(gaze=tuple(gaze))  # its range check
    return gaze


def _renderer(text: str, default: str) -> str:
    renderer = text.lower() or default
    AnimateOptions(renderer=renderer)  # names the renderers when unknown
    return renderer


@functools.lru_cache(maxsize=1)
def _languages() -> tuple[str, ...]:
    try:
        from faster_whisper.tokenizer import _LANGUAGE_CODES
    except ImportError:
        return _WHISPER_LANGUAGES
    return tuple(_LANGUAGE_CODES)


def _subtitles(text: str) -> str | None:
    code = text.lower()
    if not code:
        return None
    if code != "auto" and code not in _languages():
        raise ValueError(f"subtitles {text!r}: not 'auto' or a Whisper language code (e.g. en, de, fr, zh)")
    return code


def _seed(text: str) -> int | None:
    if not text:
        return None
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(f"seed {text!r}: not a whole number") from None
    if not 0 <= seed < _MAX_SEED:
        raise ValueError(f"seed {text!r}: must be in [0, 2**63)")
    return seed


def _request_id(text: str) -> str | None:
    if text and not _REQUEST_ID.fullmatch(text):
        raise ValueError(f"request_id {text!r}: use 1 to 128 of A-Z a-z 0-9 . _ -")
    return text or None


def _output(text: str) -> str | None:
    if not text:
        return None
    try:
        return safe_output_name(text)
    except ValueError as exc:
        raise _Invalid("unsafe_output", f"output {text!r} {exc}") from None


def _default_output(request_id: str) -> str:
    try:
        return safe_output_name(f"{request_id}.mp4")
    except ValueError as exc:
        raise _Invalid("unsafe_output", f"output (default from request_id {request_id!r}) {exc}") from None


def _digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def derived_seed(request_id: str) -> int:
    """A request's default seed: different across a campaign's videos, the same on every rerun."""
    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) % 2**31


def animate_options(request: Mapping[str, Any], base: AnimateOptions | None = None) -> AnimateOptions:
    """The AnimateOptions of a normalized request (the job's own settings, e.g. size or device, from `base`)."""
    return (base or _DEFAULTS).with_overrides(
        emotion=request["emotion"],
        pose=request["pose"],
        keyframes=request["keyframes"],
        yaw=request["yaw"],
        pitch=request["pitch"],
        roll=request["roll"],
        blink_rate=request["blink_rate"],
        blink_times=None if request["blink_times"] is None else tuple(request["blink_times"]),
        gaze=tuple(request["gaze"]),
        renderer=request["renderer"],
        seed=request["seed"],
    )


# ---------------------------------------------------------------------------------------------- one row


@dataclass
class _Row:
    """A row being validated: its normalized values, its problems, the files to check."""

    index: int
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message naming the field and value)
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (field, cell text, URI)
    raw: dict[str, str] = field(default_factory=dict)

    def take(self, parse, *args):
        """parse(*args), or None with the problem recorded (ValueError: bad_value)."""
        try:
            return parse(*args)
        except _Invalid as exc:
            self.problems.append((exc.kind, str(exc)))
        except ValueError as exc:
            self.problems.append(("bad_value", str(exc)))
        return None


def _parse_row(index: int, cells: dict[str, str], extra: dict, overflow: list | None, folder: str,
               default_renderer: str) -> _Row:
    row = _Row(index, raw=cells)
    if overflow and any(str(c).strip() for c in overflow):
        row.problems.append(("bad_value", f"{len(overflow)} more cell(s) than the header has columns"))
    request_id = row.take(_request_id, cells["request_id"])
    photo = row.take(_media, "photo", cells["photo"], folder, PHOTO_EXTENSIONS, "an image")
    audio = row.take(_media, "audio", cells["audio"], folder, AUDIO_EXTENSIONS, "audio")
    emotion = row.take(_emotion, cells["emotion"])
    pose, keyframes = row.take(_pose, cells["pose"], folder) or (None, None)
    yaw, pitch, roll = (row.take(_angle, axis, cells[axis]) for axis in ("yaw", "pitch", "roll"))
    blink_rate, blink_times = row.take(_blink, cells["blink"]) or (None, None)
    gaze = row.take(_gaze, cells["gaze"])
    renderer = row.take(_renderer, cells["renderer"], default_renderer)
    output = row.take(_output, cells["output"])
    subtitles = row.take(_subtitles, cells["subtitles"])
    seed = row.take(_seed, cells["seed"])
    row.files = [(what, cells[column], uri) for what, column, uri in
                 (("photo", "photo", photo), ("audio", "audio", audio), ("reference video", "pose", pose))
                 if uri is not None and uri not in ("natural", "static")]
    if row.problems:
        return row
    settings = {
        "photo": photo, "audio": audio, "emotion": emotion, "pose": pose, "keyframes": keyframes, "yaw": yaw,
        "pitch": pitch, "roll": roll, "blink_rate": blink_rate, "blink_times": blink_times, "gaze": gaze,
        "renderer": renderer, "output": output, "subtitles": subtitles, "seed": seed,
    }
    request_id = request_id or _digest(settings)
    if output is None:  # an id like '_x' makes an unsafe default name
        output = row.take(_default_output, request_id)
    if seed is None:
        seed = derived_seed(request_id)
    row.values = {
        "request_id": request_id, "row": index, **settings, "output": output, "seed": seed,
        "extra": json.dumps(extra, ensure_ascii=False),
    }
    row.take(animate_options, row.values)  # the job builds exactly these options: they must be accepted
    return row


def _row_id(row: _Row) -> str:
    """The id of a row for its error row: its own or derived one, else one derived from its raw cells."""
    given = row.raw.get("request_id", "")
    if row.values:
        return row.values["request_id"]
    return given if _REQUEST_ID.fullmatch(given) else _digest({"raw": row.raw})


# ---------------------------------------------------------------------------------------------- whole table


def _check_files(rows: list[_Row], workers: int) -> None:
    """Record a missing_file problem for every photo / audio / reference video that is not there; each distinct
    URI is checked once (a campaign reuses one photo), in `workers` threads (thousands of S3 HEADs)."""
    uris = sorted({uri for row in rows for _, _, uri in row.files})

    def missing(uri: str) -> str | None:
        try:
            file_size(uri)
        except SpaceError as exc:
            return exc.reason
        except Exception as exc:  # noqa: BLE001 - no permission, no network: the file cannot be used either
            return f"cannot be checked ({type(exc).__name__}: {exc})"
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(uris) or 1))) as pool:
        reasons = dict(zip(uris, pool.map(missing, uris)))
    for row in rows:
        for what, text, uri in row.files:
            if reasons[uri]:
                where = "" if uri == text else f" ({uri})"
                row.problems.append(("missing_file", f"{what} {text!r}{where}: {reasons[uri]}"))


def _check_duplicates(rows: list[_Row]) -> None:
    """The first otherwise valid row owns its request_id and output name; every later one with the same is
    invalid. Output names compare ignoring case: macOS and Windows folders (and S3 consoles) confuse them."""
    ids: dict[str, _Row] = {}
    outputs: dict[str, _Row] = {}
    for row in rows:
        if not row.values:
            continue
        request_id, output = row.values["request_id"], row.values["output"]
        was_valid = not row.problems
        if request_id in ids:
            first = ids[request_id]
            row.problems.append(("duplicate_request", f"request_id {request_id!r} is also row {first.index}'s"))
        if output is not None and output.lower() in outputs:
            first = outputs[output.lower()]
            row.problems.append((
                "duplicate_output",
                f"output {output!r} is also row {first.index}'s ({first.values['output']!r}; "
                "names compare ignoring case)",
            ))
        if was_valid:
            ids.setdefault(request_id, row)
            if output is not None:
                outputs.setdefault(output.lower(), row)


def _error_row(uri: str, row: _Row) -> dict:
    return {
        "request_id": _row_id(row),
        "row": row.index,
        "source": f"{uri}#row={row.index}",
        "stage": "validate",
        "kind": row.problems[0][0],
        "reason": f"row {row.index}: " + "; ".join(message for _, message in row.problems),
        "error": True,
    }


def load_requests(uri: str, default_renderer: str = "warp", check_files: bool = True,
                  storage_options: dict | None = None, workers: int = 16) -> RequestSet:
    """Read and validate a request table (CSV, Parquet or Delta; local or fsspec URI).

    Every row is checked; invalid rows become error rows (stage 'validate') and the others are returned
    normalized. `storage_options` are delta-rs options for a remote Delta table (default: from the AWS_*
    environment). `check_files=False` skips the existence checks of photos, audio and reference videos.
    RequestTableError when the table itself is missing, unreadable or lacks a photo or audio column.
    """
    uri = str(uri)
    if default_renderer not in RENDERERS:
        raise ValueError(f"default renderer {default_renderer!r}: choose one of {', '.join(RENDERERS)}")
    if workers < 1:
        raise ValueError(f"workers {workers}: must be >= 1")
    names, records = _read_table(uri, storage_options)
    mapped, extra_columns = _column_map(uri, names)
    folder = parent_uri(uri)  # relative media paths: the folder of the CSV / Parquet file or of the Delta table
    rows = []
    for index, record in enumerate(records):
        cells = {canon: _text(record.get(mapped[canon])) if canon in mapped else "" for canon in COLUMN_ALIASES}
        extra = {name: _extra_value(record.get(name)) for name in extra_columns}
        overflow = record.get(None)
        if not any(cells.values()) and not any(extra.values()) and not overflow:
            continue  # a blank line (spreadsheets leave them at the end)
        rows.append(_parse_row(index, cells, extra, overflow, folder, default_renderer))
    if check_files:
        _check_files(rows, workers)
    _check_duplicates(rows)
    result = RequestSet(uri)
    for row in rows:
        if row.problems:
            result.invalid.append(_error_row(uri, row))
        else:
            result.valid.append(row.values)
    return result
