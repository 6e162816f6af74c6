"""The `facevid2vid` renderer: Landmarks2Latents drives a face-vid2vid generator.

    photo -> face-vid2vid encode once: feature volume, canonical keypoints kc (15, 3)
    per frame: L2L(posed landmarks, audio window, emotion, kc) -> head params (51) -> driving keypoints
               -> dense motion + occlusion-aware generator -> frame

Frames are rendered in batches against the one encoded photo; the L2L sequence model runs once over the clip.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..models.l2l import crop_normalize
from .base import Motion, Renderer


def to_tensor(image: np.ndarray, device) -> torch.Tensor:
    """(S, S, 3) uint8 -> (1, 3, S, S) float in [0, 1]."""
    return torch.as_tensor(image, device=device).permute(2, 0, 1)[None].float() / 255.0


def to_frames(images: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in [0, 1] -> (B, S, S, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class FaceVid2VidRenderer(Renderer):
    name = "facevid2vid"

    def __init__(self, model, l2l, device: str = "cpu", batch_size: int = 8):
        self.model, self.l2l = model, l2l
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def head_params(self, source, motion: Motion, size: int) -> torch.Tensor:
        """(T, 51) face-vid2vid head params for the clip, from L2L."""
        if motion.audio_features is None or motion.emotion is None:
            raise ValueError("the facevid2vid renderer needs the motion's audio features and emotion")
        landmarks = torch.as_tensor(crop_normalize(motion.landmarks, size), device=self.device)
        features = torch.as_tensor(motion.audio_features, dtype=torch.float32, device=self.device)
        emotion = torch.as_tensor(motion.emotion, dtype=torch.float32, device=self.device)
        return self.l2l.predict(landmarks[None], features[None], emotion[None], source.kp_canonical)[0]  # (T, 51)

    @torch.no_grad()
    def render(self, portrait, motion: Motion) -> Iterator[np.ndarray]:
        size = portrait.image.shape[0]
        source = self.model.encode(to_tensor(portrait.image, self.device))
        params = self.head_params(source, motion, size)  # (T, 51)
        for start in range(0, len(params), self.batch_size):
            batch = params[start:start + self.batch_size]
            kp = self.model.keypoints(source.kp_canonical.expand(len(batch), -1, -1), batch)  # (B, 15, 3)
            yield from to_frames(self.model.render(source, kp))
