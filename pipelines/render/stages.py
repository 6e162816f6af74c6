"""The render job's stages: request row -> inputs -> frames in chunks -> segments -> the finished mp4.

    prepare     (CPU tasks)   photo -> portrait (face, 68 landmarks, pose); speech decoded and checked, its
                              phones recognised (unless --mouth s2l); the reference video's head poses when the
                              pose is copied from one
    subtitles   (actor)       whisperx transcript with word times, for the rows that ask for subtitles
    animate     (actor pool)  S2L (+ the phones' mouth) -> pose -> [L2L] -> renderer; frames of several requests
                              share each renderer batch; yields one row per chunk of frames as soon as it is drawn
    encode      (CPU tasks)   a chunk -> an H.264 segment in the request's staging folder; the task that
                              completes a request's last segment joins them (no re-encode), adds the speech (AAC)
                              and writes the video, its poster frame and subtitles

Long speech is never held whole as frames: the motion of the whole request is computed at once (sequence models
in cross-faded windows, `space.animate.windows`), then pixels are drawn and encoded `chunk_seconds` at a time.
Each segment starts on a key frame and the join copies packets, so a 10-minute video shows no seam and costs one
chunk of frames in memory per request in flight.

Staging: `<out>/_staging/<request_id>-<spec>/chunk-NNNNN.{npy,mp4,json}` and `poster.jpg`, each written
atomically and a chunk's .json (timings) last, so a listing that shows all of a request's .json files shows a
complete set of segments. Two tasks that finish a request's last two segments at once may both join them; both
write the same bytes by atomic renames, and the driver keeps one result. The driver removes a request's staging folder once its result is committed.
"""

from __future__ import annotations

import io
import json
import posixpath
import time
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from pipelines.blobs import pack_arrays, unpack_arrays
from pipelines.stages.audio import TranscriptSettings, TranscriptStage
from pipelines.stages.base import Resources, Stage, error_row, limit_threads
from pipelines.stages.clips import DurationError
from space.io.audio import SAMPLE_RATE

__all__ = ["AnimateStage", "EncodeStage", "PrepareStage", "RenderSettings", "SubtitleStage", "staging_folder"]

FPS = 25.0
CHUNK = "chunk"  # the `kind` of a row that carries a chunk of frames
SEGMENT = "segment"  # an encoded chunk whose request is not complete yet
RESULT = "result"  # a finished video


@dataclass(frozen=True)
class RenderSettings:
    """Job-wide settings. The ones that change pixels (size, landmarks, crf, mouth) are part of each request's
    spec."""

    out: str  # output prefix: local folder or s3://bucket/prefix
    checkpoints: str | None = None  # folder / URI with s2l.pt, pose.pt [, l2l.pt, a keypoint renderer's weights]
    size: int = 512
    landmarks: str = "dlib"
    crf: int = 18
    mouth: str = "blend"  # the lips' source: "blend", "s2l" or "phones" (AnimateOptions.mouth)
    chunk_seconds: float = 10.0  # frames drawn and encoded per piece of a long video
    max_seconds: float = 600.0  # longer speech is refused (an error row), not rendered
    whisper_model: str | None = None  # for rows that ask for subtitles
    align_model: str | None = None
    device: str = "cpu"
    driving: str = "l2l"  # keypoint renderers: "l2l" or "zero-shot" (AnimateOptions.driving)

    def driving_of(self, renderer: str) -> str:
        """The driving of `renderer`'s rows (the warp renderer has none: always "l2l", the default)."""
        from space.animate.options import KEYPOINT_RENDERERS

        return self.driving if renderer in KEYPOINT_RENDERERS else "l2l"

    @property
    def chunk_frames(self) -> int:
        return max(1, int(round(self.chunk_seconds * FPS)))

    def pixels(self) -> dict:
        """The settings that change a video's pixels (part of every request's spec)."""
        return {"size": self.size, "landmarks": self.landmarks, "crf": self.crf, "mouth": self.mouth}

    def to_dict(self) -> dict:
        return asdict(self)


def staging_folder(out: str, request: dict) -> str:
    return f"{out.rstrip('/')}/_staging/{request['request_id']}-{request['spec']}"


def output_uri(out: str, name: str) -> str:
    return f"{out.rstrip('/')}/{name}"


def stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".mp4") else name


def animate_options(request: dict, settings: RenderSettings):
    """The AnimateOptions of one validated request row, with the job's settings (size, weights, device)."""
    from space.animate import AnimateOptions

    from .requests import animate_options as request_options

    base = AnimateOptions(size=settings.size, checkpoints=settings.checkpoints, landmarks=settings.landmarks,
                          device=settings.device, crf=settings.crf, mouth=settings.mouth)
    return request_options(request, base)


def _timings(row: dict) -> dict:
    return json.loads(row.get("timings") or "{}")


def _with_timing(row: dict, name: str, seconds: float) -> str:
    timings = _timings(row)
    timings[name] = round(timings.get(name, 0.0) + seconds, 4)
    return json.dumps(timings)


class PrepareStage(Stage):
    """request row -> + `inputs` (packed portrait arrays, speech, its phones, reference poses) and `num_frames`."""

    name = "prepare"
    resources = Resources(cpus=1, batch_size=4)

    def __init__(self, settings: RenderSettings, resources: Resources | None = None):
        self.settings = settings
        super().__init__(resources)
        self.backend = None
        self.recognizer = None

    def setup(self) -> None:
        from space.face.backend import make_backend

        limit_threads(self.resources.cpus)
        self.backend = make_backend(self.settings.landmarks)
        if self.settings.mouth != "s2l":
            from space.audio.phones import PhoneRecognizer

            self.recognizer = PhoneRecognizer()

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._prepare)

    def _prepare(self, row: dict) -> dict:
        from space.animate.pose import reference_poses
        from space.io.audio import load_audio, require_signal
        from space.io.mp4 import frame_count_for
        from space.portrait import load_portrait

        tick = time.perf_counter()
        speech = require_signal(load_audio(row["audio"]), row["audio"])
        seconds = len(speech) / SAMPLE_RATE
        if seconds > self.settings.max_seconds:
            raise DurationError(row["audio"], f"{seconds:.0f} s of speech is longer than the limit of "
                                f"{self.settings.max_seconds:.0f} s (raise --max-seconds, or split it)", "too_long")
        portrait = load_portrait(row["photo"], size=self.settings.size, backend=self.backend)
        arrays = portrait.to_arrays()
        options = animate_options(row, self.settings)
        if options.pose_source == "reference":
            arrays["reference"] = reference_poses(options.pose, self.backend, FPS)
        if self.recognizer is not None:
            from space.audio.phones import phones_to_arrays

            arrays.update(phones_to_arrays(self.recognizer.recognize(speech).phones))
        inputs = pack_arrays(audio=speech, **arrays)
        return {**row, "inputs": inputs, "num_frames": frame_count_for(seconds, FPS),
                "timings": _with_timing(row, "prepare", time.perf_counter() - tick)}


class SubtitleStage(TranscriptStage):
    """prepared row -> + `transcript` (JSON) for the rows with a `subtitles` language; others pass through."""

    name = "subtitles"

    def __init__(self, settings: RenderSettings, device: str = "cpu", resources: Resources | None = None):
        super().__init__(TranscriptSettings(model=settings.whisper_model, align_model=settings.align_model),
                         device=device, resources=resources)

    def _transcribe(self, row: dict) -> dict:
        if not row.get("subtitles"):
            return row
        tick = time.perf_counter()
        audio = unpack_arrays(row["inputs"])["audio"]
        language = None if row["subtitles"] == "auto" else row["subtitles"]
        transcript = self.transcriber.transcribe(audio, source=row["audio"], language=language)
        return {**row, "transcript": json.dumps(transcript.to_record()),
                "timings": _with_timing(row, "subtitles", time.perf_counter() - tick)}


@dataclass
class _Clip:
    """One request being drawn: its row, renderer state and the frames of its current chunk."""

    row: dict
    state: object
    audio: np.ndarray
    num_frames: int
    chunk: list

    def chunk_row(self, index: int, chunk_frames: int, seconds: float) -> dict:
        first = index * chunk_frames
        hop = SAMPLE_RATE / FPS
        last = index == self.chunks(chunk_frames) - 1
        audio = self.audio[int(round(first * hop)):] if last else \
            self.audio[int(round(first * hop)):int(round((first + chunk_frames) * hop))]
        keep = ("request_id", "spec", "output", "subtitles", "renderer", "row")
        out = {k: self.row.get(k) for k in keep}
        out.update(kind=CHUNK, chunk=index, chunks=self.chunks(chunk_frames), first_frame=first,
                   num_frames=self.num_frames, duration=len(self.audio) / SAMPLE_RATE,
                   frames=pack_arrays(frames=np.stack(self.chunk), audio=audio),
                   timings=json.dumps({"render": round(seconds, 4)}))
        if index == 0:  # what the join needs once: the timings so far and the transcript
            out["timings"] = json.dumps({**_timings(self.row), "render": round(seconds, 4)})
            out["transcript"] = self.row.get("transcript")
        return out

    def chunks(self, chunk_frames: int) -> int:
        return -(-self.num_frames // chunk_frames)


class AnimateStage(Stage):
    """prepared rows -> one row per chunk of frames (`kind` "chunk"), yielded as each chunk is complete.

    The models load once per actor (one Animator per renderer). Per request: the motion of the whole clip
    (S2L, blinks, gaze, head pose; L2L inside the face-vid2vid renderer), then the renderer's per-clip state.
    Frames are drawn in batches of `frames_per_batch` that run across request ends (a GPU batch stays full)."""

    name = "animate"
    resources = Resources(cpus=1, batch_size=4, actors=1, memory_gb=2.0)

    def __init__(self, settings: RenderSettings, frames_per_batch: int = 16, resources: Resources | None = None):
        self.settings, self.frames_per_batch = settings, frames_per_batch
        super().__init__(resources)
        self.animators: dict[str, object] = {}

    def setup(self) -> None:
        limit_threads(self.resources.cpus)

    def animator(self, renderer: str):
        from space.animate import Animator

        if renderer not in self.animators:
            from space.animate import AnimateOptions

            s = self.settings
            self.animators[renderer] = Animator(AnimateOptions(
                renderer=renderer, size=s.size, checkpoints=s.checkpoints, landmarks=s.landmarks, device=s.device,
                driving=s.driving_of(renderer)))
        return self.animators[renderer]

    def process(self, rows: list[dict]) -> list[dict]:
        return [row for part in self.process_stream(rows) for row in part]

    def process_stream(self, rows: list[dict]):
        by_renderer: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_renderer[row.get("renderer") or "warp"].append(row)
        for renderer, group in by_renderer.items():
            try:
                animator = self.animator(renderer)
            except Exception as exc:  # noqa: BLE001 - e.g. missing weights: every request of this renderer fails
                yield [error_row(r, self.name, exc) for r in group]
                continue
            clips, failed = self._start(animator, group)
            if failed:
                yield failed
            yield from self._draw(animator.renderer(), clips)

    def _start(self, animator, rows: list[dict]) -> tuple[list[_Clip], list[dict]]:
        from space.audio.phones import phones_from_arrays
        from space.portrait import Portrait

        clips, failed = [], []
        for row in rows:
            try:
                tick = time.perf_counter()
                arrays = unpack_arrays(row["inputs"])
                audio = arrays.pop("audio")
                reference = arrays.pop("reference", None)
                phones = phones_from_arrays(arrays)  # takes its arrays out, as `reference` is taken
                portrait = Portrait.from_arrays(arrays, source=row["photo"])
                options = animate_options(row, self.settings)
                motion = animator.motion(portrait, audio, options, reference=reference, phones=phones)
                state = animator.renderer().start(portrait, motion)
                timed = {**row, "timings": _with_timing(row, "motion", time.perf_counter() - tick)}
                clips.append(_Clip(timed, state, audio, len(motion), []))
            except Exception as exc:  # noqa: BLE001 - one bad request is an error row
                failed.append(error_row(row, self.name, exc))
        return clips, failed

    def _draw(self, renderer, clips: list[_Clip]):
        """Frames of all clips in order, batches spanning clip ends; a row per chunk as soon as it is full."""
        chunk_frames = self.settings.chunk_frames
        refs = [(i, t) for i, clip in enumerate(clips) for t in range(clip.num_frames)]
        seconds = defaultdict(float)
        done: set[int] = set()
        for first in range(0, len(refs), self.frames_per_batch):
            batch = refs[first:first + self.frames_per_batch]
            alive = [(i, t) for i, t in batch if i not in done]
            if not alive:
                continue
            tick = time.perf_counter()
            try:
                frames = renderer.draw([c.state for c in clips], alive)
            except Exception as exc:  # noqa: BLE001 - the batch's requests fail; the others go on
                for i in sorted({i for i, _ in alive}):
                    done.add(i)
                    yield [error_row(clips[i].row, self.name, exc)]
                continue
            share = (time.perf_counter() - tick) / len(alive)
            out = []
            for (i, t), frame in zip(alive, frames):
                clip = clips[i]
                clip.chunk.append(frame)
                seconds[i] += share
                if len(clip.chunk) == chunk_frames or t == clip.num_frames - 1:
                    out.append(clip.chunk_row(t // chunk_frames, chunk_frames, seconds.pop(i)))
                    clip.chunk = []
            if out:
                yield out


class EncodeStage(Stage):
    """chunk row -> its H.264 segment in staging; the request's last segment -> the finished video (a row of
    `kind` "result"); any other segment -> a row of `kind` "segment" (progress only)."""

    name = "encode"
    resources = Resources(cpus=1, batch_size=1)

    def __init__(self, settings: RenderSettings, resources: Resources | None = None):
        self.settings = settings
        super().__init__(resources)

    def setup(self) -> None:
        limit_threads(self.resources.cpus)

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._encode)

    def _encode(self, row: dict) -> dict:
        from space.io.mp4 import write_mp4
        from space.io.uri import write_bytes

        from .gallery import write_poster

        tick = time.perf_counter()
        staging = staging_folder(self.settings.out, row)
        arrays = unpack_arrays(row["frames"])
        frames, audio = arrays["frames"], arrays["audio"]
        name = f"chunk-{row['chunk']:05d}"
        buffer = io.BytesIO()
        np.save(buffer, audio.astype(np.float32))
        write_bytes(f"{staging}/{name}.npy", buffer.getvalue())
        poster_at = row["num_frames"] // 3  # staged too: it joins the video only when the video is made
        if row["first_frame"] <= poster_at < row["first_frame"] + len(frames):
            write_poster(frames[poster_at - row["first_frame"]], f"{staging}/poster.jpg")
        meta = {"frames": len(frames), "timings": _timings(row), "transcript": row.get("transcript")}
        meta["timings"]["encode"] = round(time.perf_counter() - tick, 4)  # so far; the segment is added below
        tick2 = time.perf_counter()
        write_mp4(f"{staging}/{name}.mp4", frames, None, fps=FPS, crf=self.settings.crf)
        meta["timings"]["encode"] += round(time.perf_counter() - tick2, 4)
        write_bytes(f"{staging}/{name}.json", json.dumps(meta).encode())
        # the .json is written after the .mp4, so completeness is judged on the .json files
        if len(_listing(staging, ".json")) < row["chunks"]:
            return {"id": row["request_id"], "request_id": row["request_id"], "kind": SEGMENT, "chunk": row["chunk"]}
        return self._join(row, staging)

    def _join(self, row: dict, staging: str) -> dict:
        from space.io.mp4 import concat_mp4
        from space.io.subtitles import cues_from_transcript, write_subtitles
        from space.io.uri import open_uri, write_bytes

        tick = time.perf_counter()
        names = [f"chunk-{i:05d}" for i in range(row["chunks"])]
        metas = []
        audio = []
        for name in names:
            with open_uri(f"{staging}/{name}.json", "rb") as f:
                metas.append(json.loads(f.read()))
            with open_uri(f"{staging}/{name}.npy", "rb") as f:
                audio.append(np.load(io.BytesIO(f.read()), allow_pickle=False))
        out = output_uri(self.settings.out, row["output"])
        frames = concat_mp4([f"{staging}/{n}.mp4" for n in names], out, np.concatenate(audio), SAMPLE_RATE, FPS)
        if frames != row["num_frames"]:
            raise RuntimeError(f"{out}: joined {frames} frames, expected {row['num_frames']}")
        poster = output_uri(self.settings.out, stem(row["output"]) + ".poster.jpg")
        with open_uri(f"{staging}/poster.jpg", "rb") as f:
            write_bytes(poster, f.read())
        subtitles = None
        transcript = metas[0].get("transcript")
        if transcript:
            cues = cues_from_transcript(json.loads(transcript))
            subtitles = write_subtitles(output_uri(self.settings.out, stem(row["output"])), cues)
        timings: dict[str, float] = defaultdict(float)
        for meta in metas:
            for key, value in meta["timings"].items():
                timings[key] += value
        timings["join"] = time.perf_counter() - tick
        return {
            "id": row["request_id"], "request_id": row["request_id"], "kind": RESULT, "output": out,
            "poster": poster,
            "subtitles": json.dumps(subtitles) if subtitles else None, "frames": frames,
            "duration": row["duration"], "timings": json.dumps({k: round(v, 4) for k, v in timings.items()}),
        }


def _listing(folder: str, suffix: str) -> list[str]:
    """Names in `folder` ending with `suffix` (local or remote; a missing folder lists as empty)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(folder)
    fs.invalidate_cache(path)  # s3fs caches listings: another task may have added a segment since
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    return [posixpath.basename(e) for e in entries if e.endswith(suffix)]
