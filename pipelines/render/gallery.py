"""Review gallery for a render batch: one self-contained HTML page and a contact-sheet PNG.

For a batch written under `out_uri` (videos at `<out_uri>/<output_name>`, posters at `<name>.poster.jpg`,
subtitles at `<name>.vtt`), `write_gallery` writes

    <out_uri>/gallery/<batch_id>.html          a card per request, in request order, with the video player
    <out_uri>/gallery/<batch_id>_contact.png   a grid of poster thumbnails, failed requests as grey tiles

Links from the page to the videos, posters and subtitles are relative (`../campaign/anna_happy.mp4`), so the
output folder can be moved or synced as a whole. For a remote prefix (s3://...) the same relative links work
when the prefix is served over HTTP (a static website bucket, a CDN, a presigned-URL proxy that keeps paths).
The page loads nothing from elsewhere: its CSS and JS are inline. Browsers refuse <track> subtitle files on a
page opened from file://, so subtitles show in the player only over HTTP; each card also links the subtitle files.
Files are written with `space.io.uri.write_bytes` (atomic locally, one write remotely).

`poster_frame` and `write_poster` make the poster of one video: the frame at a third of its duration, as JPEG.
"""

from __future__ import annotations

import html
import io
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from space.errors import CorruptMediaError, EmptyMediaError, SpaceError
from space.io.probe import open_media
from space.io.uri import is_remote, open_uri, to_local, write_bytes

log = logging.getLogger(__name__)

TILE_GAP = 8  # pixels between contact-sheet tiles and around the grid
MAX_COLUMNS = 8
POSTER_QUALITY = 90
_BACKGROUND = (255, 255, 255)
_GREY = (160, 160, 160)
_LABEL_COLOUR = (20, 20, 20)
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # becomes a file name: no folders, no hidden files
_ROW_KEYS = (
    "request_id", "status", "output_name", "output", "poster", "subtitles", "duration", "frames", "emotion",
    "pose", "keyframes", "blink_rate", "blink_times", "gaze", "renderer", "size", "error_kind", "error_reason",
    "error_stage", "timings",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- posters


def _video_seconds(container, stream) -> float:
    # The video stream's own duration: the container's may include AAC padding past the last frame.
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000


def _frame_at(container, stream, target: float) -> np.ndarray | None:
    """The frame on screen at `target` seconds (the last one starting at or before it), decoding from the
    keyframe before it."""
    if target > 0:
        container.seek(int(target / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
    start = float((stream.start_time or 0) * stream.time_base)
    chosen = None
    for frame in container.decode(stream):
        if frame.time is not None and frame.time - start > target + 1e-6:
            break
        chosen = frame
    return None if chosen is None else chosen.to_ndarray(format="rgb24")


def poster_frame(video_uri: str) -> np.ndarray:
    """The frame of `video_uri` shown at one third of its duration, as (H, W, 3) uint8 RGB.

    Raises MissingFileError / EmptyMediaError / CorruptMediaError naming the video.
    """
    with open_media(video_uri) as container:
        if not container.streams.video:
            raise CorruptMediaError(video_uri, "no video stream to take a poster frame from")
        stream = container.streams.video[0]
        target = _video_seconds(container, stream) / 3
        rgb = _frame_at(container, stream, target)
        if rgb is None and target > 0:  # a seek past the data (bad index): decode from the start instead
            container.seek(0)
            rgb = _frame_at(container, stream, target)
    if rgb is None:
        raise EmptyMediaError(video_uri, "video stream has no decodable frames")
    return rgb


def _pick_poster(video_frames_or_frame: np.ndarray | Sequence[np.ndarray], uri: str) -> np.ndarray:
    frames = video_frames_or_frame
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        return frames
    if len(frames) == 0:
        raise ValueError(f"write_poster {uri}: no frames to take a poster from")
    return np.asarray(frames[len(frames) // 3])  # the frame at a third of the duration, as poster_frame


def write_poster(video_frames_or_frame: np.ndarray | Sequence[np.ndarray], uri: str) -> str:
    """Write a JPEG poster (quality 90) to `uri` and return `uri`.

    Takes one (H, W, 3) uint8 frame, or a video's frames ((T, H, W, 3) array or a list), of which the frame at a
    third of the duration (index T // 3) is used, as `poster_frame` picks it from an encoded video.
    """
    frame = _pick_poster(video_frames_or_frame, uri)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"write_poster {uri}: frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=POSTER_QUALITY)
    write_bytes(uri, buffer.getvalue())
    return uri


# ---------------------------------------------------------------------------------------------- rows and links


def _normal_rows(rows: list[dict]) -> list[dict[str, Any]]:
    """Every row with every key (missing ones as None), so the writers need no .get() everywhere."""
    out = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"write_gallery: row {index} must be a dict, got {type(row).__name__}")
        out.append({key: row.get(key) for key in _ROW_KEYS} | {"language": row.get("language")})
    return out


def _is_ok(row: dict) -> bool:
    return row["status"] == "ok"


def _prefix_key(uri: str) -> str:
    # A comparable form of a prefix: an absolute path for local URIs, the URI itself (no trailing /) for remote.
    return uri.rstrip("/") if is_remote(uri) else os.path.abspath(to_local(uri))


def _href(path: str) -> str:
    """A relative URL from the gallery folder to `path` (relative to out_uri): percent-encoded per segment, so
    names with spaces, '#' or '?' still point at their file."""
    return "../" + "/".join(quote(part) for part in path.split("/"))


def _link(uri: str | None, out_key: str) -> str | None:
    """How the page links to `uri`: relative when it lies under the output prefix (the usual case), a file:// or
    http(s) URL as is; None for other remote files, which a browser could not open anyway."""
    if not uri:
        return None
    if not is_remote(uri):
        path = os.path.abspath(to_local(uri))
        if path.startswith(out_key + os.sep):
            return _href(os.path.relpath(path, out_key).replace(os.sep, "/"))
        return Path(path).as_uri()
    if uri.startswith(out_key + "/"):
        return _href(uri[len(out_key) + 1 :])
    return uri if uri.split("://", 1)[0].lower() in ("http", "https") else None


def _video_link(row: dict, out_key: str) -> str | None:
    if row["output_name"]:
        return _href(str(row["output_name"]).lstrip("/"))
    return _link(row["output"], out_key)


# ---------------------------------------------------------------------------------------------- HTML


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A setting as short text: numbers rounded, dicts as k=v, lists comma-separated, None as a dash."""
    if isinstance(value, (np.ndarray, np.generic)):  # arrays from Parquet / Arrow rows: plain Python values
        value = value.tolist()
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _settings(row: dict) -> list[tuple[str, str]]:
    pose = _fmt(row["pose"])
    if row["keyframes"]:
        keyframes = row["keyframes"]
        count = len(keyframes) if isinstance(keyframes, (list, tuple, np.ndarray)) else keyframes
        pose += f" ({_fmt(count)} keyframe{'' if count == 1 else 's'})"
    blink = "–" if row["blink_rate"] is None else f"{_fmt(row['blink_rate'])}/min"
    if row["blink_times"]:
        blink += f" at {_fmt(row['blink_times'])} s"
    gaze = "–" if row["gaze"] is None else f"({_fmt(row['gaze'])})"
    return [
        ("emotion", _fmt(row["emotion"])),
        ("pose", pose),
        ("blink", blink),
        ("gaze", gaze),
        ("renderer", _fmt(row["renderer"])),
        ("size", _fmt(row["size"])),
    ]


def _vtt(row: dict) -> str | None:
    subs = row["subtitles"]
    return subs.get("vtt") if isinstance(subs, dict) else None


def _ok_card(row: dict, out_key: str) -> str:
    src = _video_link(row, out_key)
    poster = _link(row["poster"], out_key)
    vtt = _link(_vtt(row), out_key)
    if src is None:
        media = '<div class="missing">no output file recorded</div>'
    else:
        poster_attr = f' poster="{_esc(poster)}"' if poster else ""
        lang = row["language"] or "en"
        track = (
            f'<track kind="subtitles" srclang="{_esc(lang)}" label="{_esc(lang)}" src="{_esc(vtt)}" default>'
            if vtt
            else ""
        )
        media = f'<video controls preload="none" playsinline{poster_attr} src="{_esc(src)}">{track}</video>'
    table = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in _settings(row))
    table += _subtitle_links(row, out_key)
    frames = f", {_fmt(row['frames'])} frames" if row["frames"] is not None else ""
    duration = "–" if row["duration"] is None else f"{float(row['duration']):.2f} s"
    return (
        f'<article class="card ok" data-status="ok">{media}'
        f'<div class="notice"></div>'
        f'<h2 class="rid">{_esc(_fmt(row["request_id"]))}</h2>'
        f'<p class="name">{_esc(_fmt(row["output_name"]))}</p>'
        f'<p class="dur">{_esc(duration + frames)}</p>'
        f'<table class="settings">{table}</table>{_timings(row)}</article>'
    )


def _subtitle_links(row: dict, out_key: str) -> str:
    """Links to the subtitle files: browsers refuse <track> files on a page opened from file://, so a reviewer
    of a local folder can still open them."""
    subs = row["subtitles"] if isinstance(row["subtitles"], dict) else {}
    links = [(fmt, _link(uri, out_key)) for fmt, uri in subs.items()]
    anchors = " ".join(f'<a href="{_esc(href)}">{_esc(fmt)}</a>' for fmt, href in links if href)
    return f"<tr><th>subtitles</th><td>{anchors}</td></tr>" if anchors else ""


def _timings(row: dict) -> str:
    timings = row["timings"]
    if not isinstance(timings, dict) or not timings:
        return ""
    parts = ", ".join(f"{k} {float(v):.1f} s" for k, v in timings.items() if isinstance(v, (int, float)))
    return f'<p class="timings">{_esc(parts)}</p>' if parts else ""


def _failed_card(row: dict) -> str:
    status = _fmt(row["status"]) if row["status"] else "failed"
    where = " / ".join(_fmt(row[k]) for k in ("error_stage", "error_kind") if row[k])
    return (
        f'<article class="card failed" data-status="{_esc(status)}">'
        f'<span class="badge">{_esc(status)}</span>'
        f'<h2 class="rid">{_esc(_fmt(row["request_id"]))}</h2>'
        f'<p class="name">{_esc(_fmt(row["output_name"]))}</p>'
        f'<p class="where">{_esc(where or "unknown stage")}</p>'
        f'<p class="reason">{_esc(_fmt(row["error_reason"]))}</p></article>'
    )


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd}
header h1{margin:0 0 4px;font-size:20px}
.counts span{margin-right:14px}.counts .bad{color:#b00020;font-weight:600}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:14px;padding:16px 20px;
  align-items:start}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;overflow-wrap:anywhere}
.card video{width:100%;background:#000;border-radius:4px}
.card h2{font-size:14px;margin:6px 0 2px}.card p{margin:2px 0}.name{color:#555}
.settings{border-collapse:collapse;margin-top:6px;font-size:12px}
.settings th{text-align:left;color:#777;font-weight:normal;padding-right:10px}
.timings{font-size:11px;color:#888}
.failed{border-color:#e0a0a8;background:#fff7f8}
.badge{display:inline-block;background:#b00020;color:#fff;border-radius:3px;padding:1px 8px;font-weight:600}
.reason{color:#b00020;white-space:pre-wrap}.where{font-size:12px;color:#555}
.notice{display:none}.broken{border-color:#b00020;outline:2px solid #b00020}
.broken .notice{display:block;color:#b00020;font-weight:600}
body.only-failed .card.ok:not(.broken){display:none}
"""

# A video that fails to load or decode marks its card, so a reviewer sees which file a browser cannot play.
_JS = """
(function(){
  function broken(v){var c=v.closest('.card');if(!c||c.classList.contains('broken'))return;
    c.classList.add('broken');c.querySelector('.notice').textContent='does not play in this browser';}
  document.querySelectorAll('video').forEach(function(v){
    v.addEventListener('error',function(){broken(v);});
    if(v.error)broken(v);});
  var box=document.getElementById('only-failed');
  box.addEventListener('change',function(){document.body.classList.toggle('only-failed',box.checked);});
})();
"""


def _page(rows: list[dict], out_key: str, batch_id: str, title: str, contact_href: str) -> str:
    ok = sum(_is_ok(r) for r in rows)
    cards = "\n".join(_ok_card(r, out_key) if _is_ok(r) else _failed_card(r) for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_esc(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{_esc(title)}</h1>
<div class="counts">batch <code>{_esc(batch_id)}</code> <span>{len(rows)} requests</span>
<span class="good">{ok} ok</span><span class="{"bad" if ok < len(rows) else ""}">{len(rows) - ok} failed</span>
<a href="{_esc(contact_href)}">contact sheet</a>
<label><input type="checkbox" id="only-failed"> show failed only</label></div></header>
<main>
{cards}
</main>
<script>{_JS}</script></body></html>
"""


# ---------------------------------------------------------------------------------------------- contact sheet


def _read_poster(uri: str) -> Image.Image:
    with open_uri(uri) as f, Image.open(f) as img:
        return img.convert("RGB")


def _poster_image(row: dict) -> Image.Image | None:
    """The row's poster; a frame of its video when the poster is missing or unreadable; None when both fail."""
    sources = ((row["poster"], _read_poster), (row["output"], lambda uri: Image.fromarray(poster_frame(uri))))
    for source, load in sources:
        if not source:
            continue
        try:
            return load(source)
        except (SpaceError, OSError, ValueError) as exc:
            log.warning("gallery: no poster from %s (%s)", source, exc)
    return None


def _thumbnail(img: Image.Image, width: int) -> Image.Image:
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def _fit(text: str, font: ImageFont.ImageFont, width: int, keep_end: bool = False) -> str:
    """`text` cut with '...' so that it fits in `width` pixels; `keep_end` cuts the start (for file names, whose
    end tells them apart)."""
    if font.getlength(text) <= width:
        return text
    cut = (lambda t: "..." + t) if keep_end else (lambda t: t + "...")
    while text and font.getlength(cut(text)) > width:
        text = text[1:] if keep_end else text[:-1]
    return cut(text)


def _tiles(rows: list[dict], thumb_width: int) -> list[tuple[Image.Image | None, str]]:
    """(thumbnail or None, text for a grey tile) per row."""
    tiles = []
    for row in rows:
        if not _is_ok(row):
            tiles.append((None, f"failed: {_fmt(row['error_kind'] or row['status'])}"))
            continue
        img = _poster_image(row)
        tiles.append((None if img is None else _thumbnail(img, thumb_width), "no poster"))
    return tiles


def _contact_sheet(rows: list[dict], thumb_width: int) -> Image.Image:
    """Grid of min(8, ceil(sqrt(n))) columns; every cell is thumb_width wide, as tall as the tallest thumbnail
    (square when there is none) plus two label lines."""
    n = max(1, len(rows))
    columns = min(MAX_COLUMNS, math.ceil(math.sqrt(n)))
    grid_rows = math.ceil(n / columns)
    tiles = _tiles(rows, thumb_width)
    thumb_h = max((img.height for img, _ in tiles if img is not None), default=thumb_width)
    font = ImageFont.load_default()
    line_h = font.getbbox("Ag")[3] + 3
    cell_h = thumb_h + 2 * line_h
    size = (TILE_GAP + columns * (thumb_width + TILE_GAP), TILE_GAP + grid_rows * (cell_h + TILE_GAP))
    sheet = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (row, (img, note)) in enumerate(zip(rows, tiles)):
        x = TILE_GAP + (index % columns) * (thumb_width + TILE_GAP)
        y = TILE_GAP + (index // columns) * (cell_h + TILE_GAP)
        if img is not None:
            sheet.paste(img, (x, y + (thumb_h - img.height) // 2))
        else:
            draw.rectangle((x, y, x + thumb_width - 1, y + thumb_h - 1), fill=_GREY)
            draw.text((x + 4, y + 4), _fit(note, font, thumb_width - 8), fill=(255, 255, 255), font=font)
        name = _fit(_fmt(row["output_name"] or row["request_id"]), font, thumb_width, keep_end=True)
        emotion = _fit("" if row["emotion"] is None else _fmt(row["emotion"]), font, thumb_width)
        for line, text in enumerate((name, emotion)):
            draw.text((x, y + thumb_h + 1 + line * line_h), text, fill=_LABEL_COLOUR, font=font)
    return sheet


# ---------------------------------------------------------------------------------------------- entry point


def write_gallery(
    rows: list[dict], out_uri: str, batch_id: str, title: str | None = None, thumb_width: int = 192
) -> dict:
    """Write the batch's review page and contact sheet under `<out_uri>/gallery/`; returns their URIs as
    {"html": ..., "contact_sheet": ...}.

    `rows` are the job's result rows, in request order (missing keys count as None). The page links to videos,
    posters and VTT subtitles relative to itself, so it works wherever the output folder goes, and for a remote
    `out_uri` when the prefix is served over HTTP.
    """
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise ValueError(f"write_gallery: batch_id {batch_id!r} must be a file name: letters, digits, '.', '_', '-'")
    if thumb_width < 16:
        raise ValueError(f"write_gallery {batch_id}: thumb_width {thumb_width} is too small (at least 16 pixels)")
    rows = _normal_rows(rows)
    base = str(out_uri).rstrip("/")
    html_uri = f"{base}/gallery/{batch_id}.html"
    sheet_uri = f"{base}/gallery/{batch_id}_contact.png"
    title = title or f"Render batch {batch_id}"
    page = _page(rows, _prefix_key(base), batch_id, title, quote(f"{batch_id}_contact.png"))
    buffer = io.BytesIO()
    _contact_sheet(rows, thumb_width).save(buffer, format="PNG")
    write_bytes(sheet_uri, buffer.getvalue())  # the sheet first: the page links to it
    write_bytes(html_uri, page.encode("utf-8"))
    return {"html": html_uri, "contact_sheet": sheet_uri}
