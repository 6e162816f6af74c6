"""A keypoint renderer's head parameters of every clip frame (only when its weights are given): face-vid2vid's
(a public-format or SadTalker checkpoint) or LivePortrait's (its release folder).

These are Landmarks2Latents' training targets, so the crop is the one the animation uses on a photo
(`space.portrait.crop_box`: 2.2x the face box, a little below its centre), held steady over the clip: one side
(the median) and a centre smoothed over 9 frames, so the keypoints move with the head, not with a jittering crop.

Per clip, packed into `keypoints`:
    params     (T, P)   yaw, pitch, roll (degrees), translation (3), expression (K x 3) [, scale]: the model's
                        `estimate` (face-vid2vid: K = 15, P = 51; LivePortrait: K = 21, P = 70)
    canonical  (K, 3)   the canonical keypoints of the clip's first frame
    crops      (T, 3)   crop centre x, y and side in source pixels (maps landmarks into the crop for L2L)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipelines.blobs import pack_arrays, unpack_arrays
from pipelines.stages.base import Resources, Stage, limit_threads
from space.face.tracking import smooth
from space.io.video import iter_video
from space.portrait import crop_box, crop_square

__all__ = ["KeypointSettings", "KeypointStage", "clip_crops"]


KEYPOINT_MODELS = ("facevid2vid", "liveportrait")


@dataclass(frozen=True)
class KeypointSettings:
    # face-vid2vid: a public-format or SadTalker checkpoint (path or URI); liveportrait: its release folder;
    # None: no keypoints
    checkpoint: str | None = None
    config: str | None = None  # JSON of the network widths (FaceVid2VidConfig / LivePortraitConfig), if not the public
    size: int = 256  # the crop size the checkpoint was trained at (256 or 512; LivePortrait resizes to 256)
    batch_frames: int = 32
    renderer: str = "facevid2vid"  # whose keypoints: facevid2vid or liveportrait

    def __post_init__(self):
        if self.renderer not in KEYPOINT_MODELS:
            raise ValueError(f"keypoints of renderer {self.renderer!r}: choose one of {', '.join(KEYPOINT_MODELS)}")

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.renderer == "facevid2vid":  # the settings of lakes made before LivePortrait keep their id
            del out["renderer"]
        return out


def clip_crops(boxes: np.ndarray, window: int = 9) -> np.ndarray:
    """(T, 4) face boxes -> (T, 3) crops (cx, cy, side): `crop_box` per frame, centre smoothed, median side."""
    crops = np.array([crop_box(b) for b in boxes], np.float64)
    centres = smooth(crops[:, :2], window)
    side = np.full((len(crops), 1), np.median(crops[:, 2]))
    return np.concatenate([centres, side], axis=1).astype(np.float32)


class KeypointStage(Stage):
    """clip row (with `face`) -> + `keypoints` (packed arrays above). Decodes the clip again: frames are too big
    to travel between stages, and this stage runs only when a checkpoint is given."""

    name = "keypoints"
    resources = Resources(cpus=1, batch_size=1, actors=1)

    def __init__(self, settings: KeypointSettings, fps: float = 25.0, device: str = "cpu",
                 resources: Resources | None = None):
        if not settings.checkpoint:
            raise ValueError(f"KeypointStage needs the {settings.renderer} weights (KeypointSettings.checkpoint)")
        self.settings, self.fps, self.device = settings, fps, device
        super().__init__(resources)
        self.model = None

    def setup(self) -> None:
        limit_threads(self.resources.cpus)
        s = self.settings
        if s.renderer == "liveportrait":
            from space.models.liveportrait import LivePortraitConfig, load_liveportrait

            config = None
            if s.config:
                import json

                from space.io.uri import open_uri

                with open_uri(s.config, "r") as f:
                    config = LivePortraitConfig.from_dict(json.load(f))
            self.model = load_liveportrait(s.checkpoint, config, device=self.device)
            return
        from space.models.facevid2vid import load_facevid2vid

        self.model = load_facevid2vid(s.checkpoint, s.config, size=s.size, device=self.device)

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._keypoints)

    def _keypoints(self, row: dict) -> dict:
        import torch

        s = self.settings
        crops = clip_crops(unpack_arrays(row["face"])["boxes"])
        params, canonical, k = [], None, 0
        chunks = iter_video(row["uri"], fps=self.fps, chunk=s.batch_frames,
                            start_frame=int(row["start_frame"]), num_frames=int(row["num_frames"]))
        for chunk in chunks:
            images = np.stack([crop_square(f, *crops[k + i], s.size) for i, f in enumerate(chunk.frames)])
            k += len(images)
            batch = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S)
            with torch.no_grad():
                params.append(self.model.estimate(batch).cpu().numpy())
                if canonical is None:
                    canonical = self.model.canonical_keypoints(batch[:1])[0].cpu().numpy()
        packed = pack_arrays(params=np.concatenate(params).astype(np.float32), canonical=canonical, crops=crops[:k])
        return {**row, "keypoints": packed}
