"""Cut each probed video into speech clips: voice activity (whisperx's shipped pyannote VAD) on its audio track.

One video row in, one row per clip out. A clip is snapped to the 25 fps frame grid (`start_frame`,
`num_frames`) so that its frame k is the source's grid frame `start_frame + k`, and it carries its own audio
(16 kHz float32, exactly `num_frames` frames long) to the later stages as a packed array: decoded once here,
not once per stage.

A clip's id is derived from the video's content id, the settings id and the frame range, so the same video
processed with the same settings always gives the same ids (a re-run finds them done), and a changed setting
gives new ones (new, versioned rows beside the old).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

from pipelines.blobs import pack_arrays
from pipelines.stages.base import Resources, Stage, limit_threads
from space.errors import NoAudioTrackError, NoVideoTrackError, SpaceError
from space.io.audio import load_audio

__all__ = ["ClipSettings", "DurationError", "SegmentStage", "clip_id"]


class DurationError(SpaceError):
    """A video too long to process in one piece, or too short to hold one clip."""

    def __init__(self, source: str, reason: str, kind: str):
        super().__init__(source, reason)
        self.kind = kind


@dataclass(frozen=True)
class ClipSettings:
    """How videos become clips. Every field changes the clips, so every field is in the settings id."""

    fps: float = 25.0
    sample_rate: int = 16000
    min_clip: float = 1.0  # seconds: shorter speech segments are dropped
    max_clip: float = 10.0  # seconds: longer ones are cut at the quietest point
    min_gap: float = 0.3  # seconds: pauses shorter than this do not end a clip
    pad: float = 0.1  # seconds of context kept around each segment
    vad_onset: float = 0.5
    vad_offset: float = 0.363
    max_video_seconds: float = 4 * 3600.0  # a longer file is refused (its audio alone would take > 900 MB)

    def to_dict(self) -> dict:
        return asdict(self)


def clip_id(video_id: str, settings_id: str, start_frame: int, num_frames: int) -> str:
    key = f"{video_id}:{settings_id}:{start_frame}:{num_frames}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class SegmentStage(Stage):
    """video row -> clip rows (`id`, `clip_index`, `start_frame`, `num_frames`, `start`, `end`, `speech_score`,
    `audio` (packed)); no video or audio track, silence, no speech, too long or too short -> an error row."""

    name = "segment"
    resources = Resources(cpus=1, batch_size=2, actors=1)

    def __init__(self, settings: ClipSettings, settings_id: str, device: str = "cpu", resources: Resources | None = None):
        self.settings, self.settings_id, self.device = settings, settings_id, device
        super().__init__(resources)
        self.segmenter = None

    def setup(self) -> None:
        from space.audio.vad import SpeechSegmenter

        limit_threads(self.resources.cpus)
        s = self.settings
        self.segmenter = SpeechSegmenter(
            min_clip=s.min_clip, max_clip=s.max_clip, min_gap=s.min_gap, pad=s.pad,
            onset=s.vad_onset, offset=s.vad_offset, device=self.device,
        )

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._clips)

    def _check(self, row: dict) -> None:
        uri, s = row["uri"], self.settings
        if not row.get("has_video"):
            raise NoVideoTrackError(uri, "no video track")
        if not row.get("has_audio"):
            raise NoAudioTrackError(uri, "no audio track: clips are cut where there is speech")
        duration = float(row["duration"])
        if duration > s.max_video_seconds:
            raise DurationError(uri, f"{duration:.0f} s is longer than the limit of {s.max_video_seconds:.0f} s "
                                     "(raise --max-video-seconds, or split the file)", "too_long")
        if duration < s.min_clip:
            raise DurationError(uri, f"{duration:.2f} s is shorter than one clip ({s.min_clip} s)", "too_short")

    def _clips(self, row: dict) -> list[dict]:
        self._check(row)
        s = self.settings
        audio = load_audio(row["uri"], s.sample_rate)  # SilentAudioError for a silent track
        # The last whole frame both streams cover: audio and video lengths differ by a few ms in most files.
        last_frame = min(int(float(row["duration"]) * s.fps), int(len(audio) / s.sample_rate * s.fps))
        samples_per_frame = s.sample_rate / s.fps
        out = []
        for segment in self.segmenter.segments(audio, source=row["uri"]):
            start = math.floor(segment.start * s.fps)
            # outward to whole frames, but never past the file's end or over max_clip
            stop = min(math.ceil(segment.end * s.fps), last_frame, start + int(s.max_clip * s.fps))
            if stop - start < s.min_clip * s.fps:
                continue  # trimmed to the common length, too short now
            lo, hi = round(start * samples_per_frame), round(stop * samples_per_frame)
            out.append({
                **row,
                "id": clip_id(row["video_id"], self.settings_id, start, stop - start),
                "settings_id": self.settings_id,
                "clip_index": len(out),
                "start_frame": start,
                "num_frames": stop - start,
                "start": start / s.fps,
                "end": stop / s.fps,
                "speech_score": float(segment.score),
                "audio": pack_arrays(audio=audio[lo:hi].astype("float32")),
            })
        if not out:
            raise DurationError(row["uri"], "no speech clip left after trimming to the video's length", "no_speech")
        return out
