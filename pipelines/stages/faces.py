"""Decode each clip (decord), follow its one face, and measure 3D landmarks, head pose and normalized landmarks.

The clip's frames are decoded in chunks and downscaled on the way in (`max_side`), so a 1080p clip never sits in
memory whole; the results are reported in source pixels. Decoding, detection and the 68-point model run in the
same actor: frames are the one thing too big to pass between stages.

Per clip (T frames), packed into `face`:
    landmarks  (T, 68, 3) source pixels        boxes     (T, 4) face box x1, y1, x2, y2
    poses      (T, 6) yaw, pitch, roll (deg), tx, ty (px), scale      normalized (T, 68, 3) pose-free
    detected   (T,) bool (else interpolated)   fit_rms   (T,) pose-fit error, px
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.blobs import pack_arrays
from pipelines.stages.base import Resources, Stage, limit_threads
from space.face.backend import make_backend
from space.face.landmarks import track_video

__all__ = ["FaceSettings", "FaceStage", "clip_source"]


@dataclass(frozen=True)
class FaceSettings:
    backend: str = "dlib"  # "dlib" (CPU, weights ship in a package) or "fan" (face-alignment; GPU when present)
    weights: str | None = None  # FAN weights folder or URI (None: the torch hub cache)
    max_side: int = 640  # frames are downscaled to this longer side before detection
    detect_every: int = 5  # run the detector on every k-th frame, interpolate the box between
    min_detected: float = 0.5  # a clip whose face is found in fewer of the examined frames is an error
    max_crowded: float = 0.5  # a clip with a second face of comparable size in more of the frames is an error

    def to_dict(self) -> dict:
        return asdict(self)


def clip_source(row: dict) -> str:
    """How errors name a clip: the video URI and the clip's time range."""
    return f"{row['uri']}@{row['start']:.2f}-{row['end']:.2f}s"


class FaceStage(Stage):
    """clip row -> + `face` (packed arrays above), `face_detected` (share of examined frames), `num_frames`
    (the frames actually decoded); no face / several faces / undecodable -> an error row naming the clip."""

    name = "landmarks"
    resources = Resources(cpus=1, batch_size=1, actors=1)

    def __init__(self, settings: FaceSettings, fps: float = 25.0, device: str = "cpu",
                 resources: Resources | None = None):
        self.settings, self.fps, self.device = settings, fps, device
        super().__init__(resources)
        self.backend = None

    def setup(self) -> None:
        limit_threads(self.resources.cpus)
        s = self.settings
        options = {"weights": s.weights, "device": self.device} if s.backend == "fan" else {}
        self.backend = make_backend(s.backend, **options)

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._track)

    def _track(self, row: dict) -> dict:
        s = self.settings
        track, _, _ = track_video(
            row["uri"], self.backend, fps=self.fps, max_side=s.max_side,
            start_frame=int(row["start_frame"]), num_frames=int(row["num_frames"]), source=clip_source(row),
            detect_every=s.detect_every, min_detected=s.min_detected, max_crowded=s.max_crowded,
        )
        face = pack_arrays(
            landmarks=track.landmarks, boxes=track.boxes, poses=track.poses, normalized=track.normalized,
            detected=track.detected, fit_rms=track.fit_rms,
        )
        examined = track.detected[:: s.detect_every]
        return {**row, "face": face, "num_frames": len(track), "face_detected": float(examined.mean())}
