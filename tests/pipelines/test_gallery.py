"""The render batch's review gallery: real H.264/AAC mp4s, played by a real headless chromium, and the contact sheet
checked tile by tile against the posters."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import fsspec
import av
import numpy as np
import pytest
from PIL import Image

from pipelines.render.gallery import TILE_GAP, poster_frame, write_gallery, write_poster
from space.io.mp4 import write_mp4
from space.synth.speech import synthesize_speech
from tests.support.browser import find_chromium, headless_chromium, with_page

FPS = 25
THUMB = 96
BROWSER_TIMEOUT_S = 60.0
NASTY_NAME = 'campaign/<script>alert("name")</script>.mp4'
NASTY_REASON = "photo has two faces <img src=x onerror=alert(1)> & \"quotes\""
# (output name, size (W, H), seconds): a name with a space, '&' and '#' checks that the page's links are encoded.
VIDEOS = [
    ("campaign/anna_happy.mp4", (128, 128), 2.0),
    ("campaign/ben & co #2.mp4", (256, 192), 2.4),
    ("campaign/chloe_neutral.mp4", (128, 128), 3.0),
]
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nHello from Anna\n\n00:00:01.200 --> 00:00:02.000\nSee you soon\n"


def pattern(size: tuple[int, int], count: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) moving stripes and a moving square: neighbouring frames differ clearly, even after H.264."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        frames[t, ..., 0] = (xx * 4 + t * 9 + seed * 40) % 256
        frames[t, ..., 1] = (yy * 3 + t * 5) % 256
        frames[t, ..., 2] = 60 + 40 * seed
        x0 = (t * 3) % (width - 32)
        frames[t, 40:72, x0 : x0 + 32] = 255
    return frames


def _row(name: str, out: Path, seconds: float, index: int, vtt: bool) -> dict:
    stem = str(out / name)[: -len(".mp4")]
    return {
        "request_id": f"req-{index}",
        "status": "ok",
        "output_name": name,
        "output": str(out / name),
        "poster": f"{stem}.poster.jpg",
        "subtitles": {"vtt": f"{stem}.vtt"} if vtt else None,
        "duration": seconds,
        "frames": round(seconds * FPS),
        "emotion": {"happy": 0.6} if index == 0 else "neutral",
        "pose": "natural",
        "keyframes": [[0.0, 5.0, 0.0, 0.0]] if index == 1 else None,
        "blink_rate": 12.0,
        "blink_times": None,
        "gaze": [0.1, -0.05],
        "renderer": "facevid2vid",
        "size": 256,
        "timings": {"animate": 0.8, "encode": 0.3},
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Three real mp4s with posters (one with a VTT), a failed and an invalid row; the gallery of all five."""
    out = tmp_path_factory.mktemp("render") / "out"
    rows, frames = [], {}
    for index, (name, size, seconds) in enumerate(VIDEOS):
        clip = pattern(size, round(seconds * FPS), index)
        speech = synthesize_speech(seconds, seed=index)
        write_mp4(out / name, clip, speech.audio, fps=FPS)
        rows.append(_row(name, out, seconds, index, vtt=index == 0))
        write_poster(clip, rows[-1]["poster"])
        frames[name] = clip
    Path(rows[0]["subtitles"]["vtt"]).write_text(VTT)
    failed = {"request_id": "req-failed", "status": "error", "output_name": NASTY_NAME, "emotion": "sad"}
    failed |= {"error_stage": "animate", "error_kind": "several_faces", "error_reason": NASTY_REASON}
    invalid = {"request_id": "req-invalid", "status": "invalid", "output_name": "campaign/x.mp4"}
    invalid |= {"error_stage": "validate", "error_kind": "bad_request", "error_reason": "intensity 3.0 > 1"}
    rows.insert(2, failed)
    rows.append(invalid)
    written = write_gallery(rows, str(out), "batch-7", title="Spring campaign", thumb_width=THUMB)
    return out, rows, frames, written


# ------------------------------------------------------------------------------------------------ posters


def test_poster_frame_is_the_frame_at_a_third_of_the_duration(batch):
    out, _, frames, _ = batch
    name = VIDEOS[1][0]
    clip = frames[name]
    got = poster_frame(str(out / name))
    assert got.shape == clip.shape[1:] and got.dtype == np.uint8
    third = len(clip) // 3  # 60 frames at 25 fps: 0.8 s is frame 20
    # Against the frames before encoding: clearly frame 20, not a neighbour (the stripes move 9 px a frame).
    errors = [np.abs(got.astype(int) - clip[i].astype(int)).mean() for i in (third - 1, third, third + 1)]
    assert errors[1] < 6.0 and errors[1] < min(errors[0], errors[2]) / 2, f"not frame {third}: {errors}"
    # Against a decode from the start (no seeking): exactly the decoded frame 20.
    with av.open(str(out / name)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(clip) and np.array_equal(got, decoded[third])


def test_write_poster_writes_a_jpeg_of_the_given_frame(tmp_path):
    frame = pattern((128, 128), 1, 0)[0]
    uri = write_poster(frame, str(tmp_path / "a" / "one.poster.jpg"))
    with Image.open(uri) as img:
        assert img.format == "JPEG" and img.size == (128, 128)
        assert np.abs(np.asarray(img.convert("RGB"), dtype=int) - frame).mean() < 4
    with pytest.raises(ValueError, match="empty.poster.jpg: no frames"):
        write_poster([], str(tmp_path / "empty.poster.jpg"))


# ------------------------------------------------------------------------------------------------ the page


def test_page_escapes_user_text_and_links_relative(batch):
    _, _, _, written = batch
    page = Path(written["html"]).read_text()
    assert written["html"].endswith("/gallery/batch-7.html")
    assert "<script>alert" not in page and "onerror=alert" not in page.replace("&lt;img src=x onerror=alert", "")
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;.mp4" in page
    assert 'src="../campaign/anna_happy.mp4"' in page
    assert 'src="../campaign/ben%20%26%20co%20%232.mp4"' in page
    assert 'poster="../campaign/anna_happy.poster.jpg"' in page
    assert '<track kind="subtitles" srclang="en"' in page and 'src="../campaign/anna_happy.vtt"' in page
    assert page.count("<video ") == 3 and page.count("<track ") == 1
    assert 'href="batch-7_contact.png"' in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing loads from elsewhere


def test_remote_prefix_gets_the_same_relative_links(batch):
    out, rows, _, _ = batch
    remote = "memory://render-bucket/out"
    fs = fsspec.filesystem("memory")
    posters = []
    for row in rows[:2]:
        uri = f"{remote}/{row['output_name'][: -len('.mp4')]}.poster.jpg"
        fs.pipe(uri, Path(row["poster"]).read_bytes())
        posters.append({**row, "output": f"{remote}/{row['output_name']}", "poster": uri, "subtitles": None})
    written = write_gallery(posters, remote + "/", "remote")
    assert written == {"html": f"{remote}/gallery/remote.html", "contact_sheet": f"{remote}/gallery/remote_contact.png"}
    page = fs.cat(written["html"]).decode()
    assert 'src="../campaign/anna_happy.mp4"' in page and 'poster="../campaign/anna_happy.poster.jpg"' in page
    with fs.open(written["contact_sheet"]) as f, Image.open(f) as sheet:
        assert sheet.size == (TILE_GAP + 2 * (192 + TILE_GAP), sheet.height)


def test_batch_id_must_be_a_file_name(tmp_path):
    with pytest.raises(ValueError, match=r"batch_id '\.\./escape'"):
        write_gallery([], str(tmp_path), "../escape")


# ------------------------------------------------------------------------------------------------ contact sheet


def _tile(sheet: Image.Image, index: int, columns: int, cell_h: int) -> tuple[int, int]:
    return TILE_GAP + (index % columns) * (THUMB + TILE_GAP), TILE_GAP + (index // columns) * (cell_h + TILE_GAP)


def test_contact_sheet_is_a_grid_of_posters_and_grey_failed_tiles(batch):
    _, rows, _, written = batch
    sheet = Image.open(written["contact_sheet"]).convert("RGB")
    columns, grid_rows = 3, 2  # 5 rows: min(8, ceil(sqrt(5))) = 3 columns
    assert sheet.width == TILE_GAP + columns * (THUMB + TILE_GAP)
    cell_h, rest = divmod(sheet.height - TILE_GAP, grid_rows)
    cell_h -= TILE_GAP
    assert rest == 0 and cell_h >= THUMB + 20, f"sheet {sheet.size} is not {grid_rows} rows of {THUMB}-px tiles"
    pixels = np.asarray(sheet, dtype=int)
    for index, row in enumerate(rows):
        x, y = _tile(sheet, index, columns, cell_h)
        if row["status"] != "ok":  # grey tile; its text sits in the top left corner
            assert (np.abs(pixels[y + 30 : y + THUMB, x : x + THUMB] - 160) < 2).all(), f"tile {index} not grey"
            continue
        with Image.open(row["poster"]) as poster:
            height = round(poster.height * THUMB / poster.width)  # aspect kept: 256x192 -> 96x72
            thumb = np.asarray(poster.convert("RGB").resize((THUMB, height), Image.Resampling.LANCZOS), dtype=int)
        top = y + (THUMB - height) // 2
        diff = np.abs(pixels[top : top + height, x : x + THUMB] - thumb).mean()
        assert diff < 2, f"tile {index} does not show {row['poster']} (mean difference {diff:.1f})"
    x, y = _tile(sheet, 5, columns, cell_h)
    assert (pixels[y : y + cell_h, x : x + THUMB] == 255).all(), "the unused sixth cell should be empty"


def test_contact_sheet_falls_back_to_a_video_frame_then_to_a_grey_tile(batch, tmp_path):
    out, rows, _, _ = batch
    no_poster = {**rows[0], "poster": str(tmp_path / "gone.poster.jpg")}
    nothing = {**rows[1], "poster": None, "output": str(tmp_path / "gone.mp4")}
    written = write_gallery([no_poster, nothing], str(tmp_path / "out"), "fallback", thumb_width=THUMB)
    pixels = np.asarray(Image.open(written["contact_sheet"]).convert("RGB"), dtype=int)
    frame = Image.fromarray(poster_frame(rows[0]["output"])).resize((THUMB, THUMB), Image.Resampling.LANCZOS)
    diff = np.abs(pixels[TILE_GAP : TILE_GAP + THUMB, TILE_GAP : TILE_GAP + THUMB] - np.asarray(frame, int)).mean()
    assert diff < 2, f"the first tile is not the video's poster frame (mean difference {diff:.1f})"
    x = 2 * TILE_GAP + THUMB
    assert (np.abs(pixels[TILE_GAP + 30 : TILE_GAP + THUMB, x : x + THUMB] - 160) < 2).all()


# ------------------------------------------------------------------------------------------------ in a browser

# For every <video>: load it muted, wait for its first frame, play until 0.3 s. Resolves to one record per video.
PLAY_ALL = """
(async (expected) => {
  const wait = (v, ok, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out at ' + v.currentTime)), ms);
    v.addEventListener('error', () => { clearTimeout(timer);
      reject(new Error('media error ' + (v.error && v.error.code) + ' ' + (v.error && v.error.message))); });
    const poll = () => ok() ? (clearTimeout(timer), resolve()) : setTimeout(poll, 25);
    poll();
  });
  const out = [];
  for (const v of document.querySelectorAll('video')) {
    const r = {src: v.getAttribute('src')};
    try {
      v.muted = true;
      const loaded = new Promise(res => v.addEventListener('loadeddata', res, {once: true}));
      v.load();
      await Promise.race([loaded, wait(v, () => false, 15000)]);
      Object.assign(r, {readyState: v.readyState, width: v.videoWidth, duration: v.duration});
      await v.play();
      await wait(v, () => v.currentTime > 0.3, 15000);
      Object.assign(r, {currentTime: v.currentTime, audioBytes: v.webkitAudioDecodedByteCount, played: true});
      v.pause();
    } catch (e) { r.error = String(e); }
    const track = v.querySelector('track');
    if (track) r.cues = track.track.cues ? Array.from(track.track.cues, c => c.text) : null;
    out.push(r);
  }
  const cards = Array.from(document.querySelectorAll('.card'), c => ({
    status: c.dataset.status, broken: c.classList.contains('broken'), text: c.innerText}));
  return {videos: out, cards, scripts: document.scripts.length, title: document.title};
})()
"""

# Start every video and wait until it plays or errors; then report which cards the page marked as broken.
BREAK_ALL = """
(async () => {
  for (const v of document.querySelectorAll('video')) {
    v.muted = true;
    await new Promise(res => {
      for (const event of ['error', 'playing']) v.addEventListener(event, res, {once: true});
      v.play().catch(() => {});
      setTimeout(res, 10000);
    });
  }
  return Array.from(document.querySelectorAll('.card'),
                    c => ({broken: c.classList.contains('broken'), text: c.innerText}));
})()
"""


@contextmanager
def http_server(folder: Path):
    """The output folder over HTTP, as a bucket's website would serve it."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no line per request in the test output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    executable = find_chromium()
    if executable is None:
        pytest.skip("no chromium on PATH (scripts/setup.sh installs Debian's chromium when run as root)")
    with headless_chromium(executable) as websocket_url:
        yield websocket_url


def _browse(websocket_url: str, url: str, script: str):
    async def work(page):
        await page.navigate(url)
        return await page.evaluate(script)

    return asyncio.run(with_page(websocket_url, work, BROWSER_TIMEOUT_S))


def _check_played(result: dict, rows: list[dict]) -> None:
    ok_rows = [r for r in rows if r["status"] == "ok"]
    assert len(result["videos"]) == len(ok_rows)
    for video, row in zip(result["videos"], ok_rows):
        assert video.get("played"), f"{row['output_name']} did not play: {video}"
        assert video["readyState"] >= 2 and video["width"] > 0, video
        assert abs(video["duration"] - row["duration"]) < 0.1, video
        assert video["audioBytes"] > 0, f"{row['output_name']}: no AAC audio decoded ({video})"


def test_chromium_plays_every_video_and_shows_the_failures(batch, chromium):
    out, rows, _, written = batch
    result = _browse(chromium, Path(written["html"]).as_uri(), PLAY_ALL)
    _check_played(result, rows)
    assert result["title"] == "Spring campaign" and result["scripts"] == 1  # no user text became a script
    cards = result["cards"]
    assert [c["status"] for c in cards] == ["ok", "ok", "error", "ok", "invalid"]
    assert not any(c["broken"] for c in cards), [c for c in cards if c["broken"]]
    assert NASTY_REASON in cards[2]["text"] and NASTY_NAME in cards[2]["text"]
    assert "animate / several_faces" in cards[2]["text"]
    assert "intensity 3.0 > 1" in cards[4]["text"] and "validate / bad_request" in cards[4]["text"]


def test_over_http_the_subtitles_load_too(batch, chromium):
    # Browsers refuse <track> files on a page opened from file://; served over HTTP (a bucket website) they load.
    out, rows, _, written = batch
    with http_server(out) as base:
        result = _browse(chromium, f"{base}/gallery/batch-7.html", PLAY_ALL)
    _check_played(result, rows)
    assert result["videos"][0]["cues"] == ["Hello from Anna", "See you soon"]


def test_a_video_the_browser_cannot_play_marks_its_card(batch, chromium):
    out, rows, _, _ = batch
    fake = out / "campaign" / "not_a_video.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)  # an mp4 header, then noise
    broken = {**rows[0], "request_id": "req-broken", "output_name": "campaign/not_a_video.mp4",
              "output": str(fake), "poster": None, "subtitles": None}  # fmt: skip
    written = write_gallery([rows[0], broken], str(out), "broken", thumb_width=THUMB)
    cards = _browse(chromium, Path(written["html"]).as_uri(), BREAK_ALL)
    assert [c["broken"] for c in cards] == [False, True]
    assert "does not play in this browser" in cards[1]["text"]
    assert "does not play" not in cards[0]["text"]
