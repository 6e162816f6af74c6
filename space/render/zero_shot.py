"""Zero-shot driving: a keypoint renderer driven by its own motion estimator, without a trained L2L.

    motion (posed landmarks, poses, iris) --warp renderer--> landmark-warped frames of the photo (T, S, S, 3)
    each frame --the renderer's motion estimator (face-vid2vid's he_estimator)--> head params (T, P)
    head params --Gaussian smoothing over time (sigma ~1 frame)--> what the keypoint renderer draws

A user with only a renderer checkpoint gets a video at once: the warp renderer needs no weights, and the
estimator reads head pose and expression off its frames as it would off a real video (face-vid2vid's own
motion transfer). The limits, which a trained L2L does not have:
- the renderer sees only what the warp frame shows: mouth shapes, blinks and gaze are as good as the warp's and
  as legible to the estimator (a small mouth opening or a half blink may read as none);
- the estimator was trained on real video, not on warped photos: its reading of a warped frame carries some
  error, which shows as jitter (the smoothing removes most of it, at the cost of ~1 frame of sharpness);
- head turns beyond the warp's comfortable range (about +-20 degrees of yaw) are read from a stretched photo;
- it costs a warp render and an estimator pass per frame on top of the renderer's own work.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from .base import Motion

SMOOTHING_SIGMA = 1.0  # frames (25 fps): removes the estimator's frame-to-frame jitter, keeps the syllables


def batches(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Group a stream of (S, S, 3) frames into (<= size, S, S, 3) arrays."""
    group: list[np.ndarray] = []
    for frame in frames:
        group.append(frame)
        if len(group) == size:
            yield np.stack(group)
            group = []
    if group:
        yield np.stack(group)


def smooth(params: Tensor, sigma: float = SMOOTHING_SIGMA) -> Tensor:
    """(T, P) -> (T, P) Gaussian-smoothed along T (edges reflected); sigma 0 leaves it as is."""
    if sigma <= 0 or len(params) < 2:
        return params
    radius = max(1, int(round(3 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=params.dtype, device=params.device) / sigma) ** 2)
    taps = (taps / taps.sum()).view(1, 1, -1).expand(params.shape[1], 1, -1)  # one kernel per parameter
    x = params.T[None]  # (1, P, T)
    x = torch.nn.functional.pad(x, (radius, radius), mode="reflect" if len(params) > radius else "replicate")
    return torch.nn.functional.conv1d(x, taps, groups=params.shape[1])[0].T.contiguous()


@torch.no_grad()
def zero_shot_params(estimate: Callable[[Tensor], Tensor], portrait, motion: Motion, device,
                     batch_size: int = 8, sigma: float = SMOOTHING_SIGMA) -> Tensor:
    """(T, P) head params for `motion`: the estimator `estimate((B, 3, S, S) in [0, 1]) -> (B, P)` run on the
    warp renderer's frames of `portrait`, smoothed over time."""
    from .warp import WarpRenderer

    params = []
    for group in batches(WarpRenderer().render(portrait, motion), batch_size):
        images = torch.as_tensor(group, device=device).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S)
        params.append(estimate(images).float())
    return smooth(torch.cat(params), sigma)
