"""Sequence models over long speech: overlapping windows, cross-faded, so a 5-minute clip has no seams.

S2L and L2L are bidirectional sequence models trained on clips of up to ~10 s. Run over minutes of speech at once
they would see sequences far longer than any in training; cut into independent pieces, the landmarks would jump
where one piece ends and the next begins. So a long clip is run in windows of WINDOW frames that overlap by OVERLAP
frames, and in each overlap the two windows' outputs are blended with weights that ramp linearly from one to the
other: every output frame is a convex combination with weights continuous in time, hence no step anywhere.
(The pose generator is autoregressive and carries its state across the whole clip: it needs no windows.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WINDOW = 400  # frames (16 s at 25 fps): within twice the training clips' length
OVERLAP = 50  # frames (2 s) of cross-fade


def window_starts(length: int, window: int = WINDOW, overlap: int = OVERLAP) -> list[int]:
    """First frames of the windows covering `length` frames; the last window ends at the clip's end."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in [0, window={window})")
    if length <= window:
        return [0]
    starts = list(range(0, length - window, window - overlap))
    return starts + [length - window]


def windowed(fn: Callable[[int, int], torch.Tensor], length: int, window: int = WINDOW,
             overlap: int = OVERLAP) -> torch.Tensor:
    """`fn(start, end)` -> (end - start, ...) outputs of a sequence model on frames [start, end); returns the
    (length, ...) outputs of the whole clip, windows cross-faded in their overlaps (one call when it fits)."""
    starts = window_starts(length, window, overlap)
    if len(starts) == 1:
        return fn(0, length)
    out = weight = None
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1]  # strictly inside (0, 1): both windows count in the overlap
    for start in starts:
        end = start + window
        part = fn(start, end)
        w = torch.ones(window, dtype=part.dtype, device=part.device)
        if start > 0:
            w[:overlap] = ramp.to(w)
        if end < length:
            w[window - overlap:] = ramp.flip(0).to(w)
        if out is None:
            out = part.new_zeros((length, *part.shape[1:]))
            weight = part.new_zeros(length)
        out[start:end] += part * w.reshape(-1, *([1] * (part.dim() - 1)))
        weight[start:end] += w
    return out / weight.reshape(-1, *([1] * (out.dim() - 1)))
