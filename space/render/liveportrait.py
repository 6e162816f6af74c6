"""The `liveportrait` renderer: L2L (or zero-shot driving) drives LivePortrait's keypoints.

    photo -> LivePortrait encode once (F at 256): feature volume, canonical keypoints kc (21, 3), head params (70)
    per frame: head params (70: yaw, pitch, roll, t, exp 21x3, scale) -> s (R kc + exp) + t -> stitching MLP
               -> W (warp + occlusion) -> G (SPADE, 2x) -> 512x512 frame, resized to the requested size

Everything else is the facevid2vid renderer's (the same head-param interface: L2L trained against LivePortrait's
keypoints predicts its 70-vector; zero-shot driving reads it off the warp renderer's frames with LivePortrait's
own motion extractor). See space/models/liveportrait for the networks and the release files.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .facevid2vid import FaceVid2VidRenderer, to_frames


class LivePortraitRenderer(FaceVid2VidRenderer):
    name = "liveportrait"

    @torch.no_grad()
    def start(self, portrait, motion) -> tuple:
        """(SourceState, (T, 70) head params, the side frames are delivered at)."""
        return (*super().start(portrait, motion), portrait.image.shape[0])

    @torch.no_grad()
    def draw(self, clips, refs) -> np.ndarray:
        frames = self.render_batch(clips, refs)  # (B, 3, 512, 512)
        side = clips[refs[0][0]][2]
        if frames.shape[-1] != side:  # G draws 512: other sizes are resampled (area-like, antialiased)
            frames = F.interpolate(frames, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        return to_frames(frames)
