"""The `facevid2vid` renderer: Landmarks2Latents drives a face-vid2vid generator.

    photo -> face-vid2vid encode once: feature volume, canonical keypoints kc (15, 3)
    per frame: L2L(posed landmarks, audio window, emotion, kc) -> head params (51) -> driving keypoints
               -> dense motion + occlusion-aware generator -> frame

With driving="zero-shot" the head params come instead from face-vid2vid's own head-pose estimator run on the warp
renderer's frames (zero_shot.py): no L2L needed, with the limits that module lists.

Frames are rendered in batches against the encoded photo; the L2L sequence model runs once over the clip. A batch
may mix frames of several clips (`draw`): each frame then gets its own photo's encoded state.
"""

from __future__ import annotations


import numpy as np
import torch

from ..models.facevid2vid.model import SourceState
from ..models.l2l import crop_normalize
from ..animate.windows import windowed
from .base import Motion, Renderer
from .zero_shot import zero_shot_params


def to_tensor(image: np.ndarray, device) -> torch.Tensor:
    """(S, S, 3) uint8 -> (1, 3, S, S) float in [0, 1]."""
    return torch.as_tensor(image, device=device).permute(2, 0, 1)[None].float() / 255.0


def to_frames(images: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in [0, 1] -> (B, S, S, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class FaceVid2VidRenderer(Renderer):
    name = "facevid2vid"

    def __init__(self, model, l2l=None, device: str = "cpu", batch_size: int = 8, driving: str = "l2l"):
        if driving not in ("l2l", "zero-shot"):
            raise ValueError(f"driving {driving!r}: choose l2l or zero-shot")
        if driving == "l2l" and l2l is None:
            raise ValueError("the facevid2vid renderer with driving='l2l' needs an L2L model (or driving='zero-shot')")
        self.model, self.l2l, self.driving = model, l2l, driving
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def head_params(self, source, motion: Motion, size: int) -> torch.Tensor:
        """(T, P) head params for the clip (51 for face-vid2vid), from L2L."""
        if motion.audio_features is None or motion.emotion is None:
            raise ValueError("the facevid2vid renderer needs the motion's audio features and emotion")
        landmarks = torch.as_tensor(crop_normalize(motion.landmarks, size), device=self.device)
        features = torch.as_tensor(motion.audio_features, dtype=torch.float32, device=self.device)
        emotion = torch.as_tensor(motion.emotion, dtype=torch.float32, device=self.device)
        def params(a: int, b: int) -> torch.Tensor:
            return self.l2l.predict(landmarks[None, a:b], features[None, a:b], emotion[None], source.kp_canonical)[0]

        return windowed(params, len(landmarks))  # (T, 51); long clips in cross-faded windows

    @torch.no_grad()
    def start(self, portrait, motion: Motion) -> tuple:
        """Encode the photo once and get the whole clip's head params (L2L, or zero-shot from the estimator):
        (SourceState, (T, 51) head params)."""
        source = self.model.encode(to_tensor(portrait.image, self.device))
        if self.driving == "zero-shot":
            return source, zero_shot_params(self.model.estimate, portrait, motion, self.device, self.batch_size)
        return source, self.head_params(source, motion, portrait.image.shape[0])

    @torch.no_grad()
    def draw(self, clips, refs) -> np.ndarray:
        return to_frames(self.render_batch(clips, refs))

    def render_batch(self, clips, refs) -> torch.Tensor:
        """Frames `refs` ((clip index, frame index) pairs) of the started `clips` -> (B, 3, S, S) in [0, 1]."""
        params = torch.stack([clips[i][1][t] for i, t in refs])  # (B, 51)
        used = sorted({i for i, _ in refs})
        if len(used) == 1:  # one photo: its batch-1 state is shared by every frame
            source = clips[used[0]][0]
        else:  # frames of several photos in one batch: each frame gets its photo's state
            slot = {i: n for n, i in enumerate(used)}
            items = torch.tensor([slot[i] for i, _ in refs], device=self.device)
            source = SourceState(*(torch.cat([getattr(clips[i][0], name) for i in used])[items]
                                   for name in ("feature", "kp_canonical", "params", "kp_source")))
        kp = self.model.keypoints(source.kp_canonical.expand(len(refs), -1, -1), params)  # (B, K, 3)
        return self.model.render(source, kp)
