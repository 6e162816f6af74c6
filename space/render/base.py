"""The renderer interface: one photo + per-frame motion -> frames.

Every renderer (`warp`, `facevid2vid`) takes the same inputs, so the animation pipeline does not care which one
draws the pixels. Coordinates are pixels of the portrait crop (`space.portrait.Portrait.image`).

Two ways to use one:
- `render(portrait, motion)`: one clip, frames streamed in order;
- `start(portrait, motion)` once per clip, then `draw(clips, refs)` for any frames of any started clips: the batch
  render job fills each call with frames of several requests, so a GPU batch stays full across request ends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np


@dataclass
class Motion:
    """What to draw, frame by frame (T frames at 25 fps)."""

    landmarks: np.ndarray  # (T, 68, 3) posed landmarks, portrait pixels (x right, y down)
    normalized: np.ndarray  # (T, 68, 3) the same landmarks in the pose-free space
    poses: np.ndarray  # (T, 6) yaw, pitch, roll (deg), tx, ty (px), scale (see space.face.geometry)
    iris: np.ndarray  # (T, 2, 2) where each iris is drawn (image-left eye first), portrait pixels; gaze (0, 0) is
    #                   the photo's own gaze carried with the eyes (space.face.eyes.posed_iris)
    mouth_open: np.ndarray  # (T,) inner-lip gap over mouth width, 0 closed .. ~0.6 wide open
    audio_features: np.ndarray | None = None  # (T, W, F) the frames' audio windows (space.audio.features)
    emotion: np.ndarray | None = None  # (8,) intensity per label of space.face.expression.EMOTIONS

    def __len__(self) -> int:
        return len(self.landmarks)


class Renderer(ABC):
    """Draws a portrait moved by a Motion. Heavy set-up (weights, photo encoding) happens once per instance or
    once per clip (`start`); `render` streams frames so a long clip never sits in memory."""

    name: str = "renderer"
    batch_size: int = 8  # frames per `draw` call that `render` makes

    @abstractmethod
    def start(self, portrait, motion: Motion) -> Any:
        """The per-clip state `draw` needs (the prepared photo, the clip's motion or its derived parameters)."""

    @abstractmethod
    def draw(self, clips: Sequence[Any], refs: Sequence[tuple[int, int]]) -> np.ndarray:
        """Frames for `refs` = [(index into `clips`, frame index)] -> (len(refs), size, size, 3) uint8 RGB. All
        clips must have the same size."""

    def render(self, portrait, motion: Motion) -> Iterator[np.ndarray]:
        """Yield len(motion) frames, each (size, size, 3) uint8 RGB, size = portrait.image.shape[0]."""
        clip = self.start(portrait, motion)
        for first in range(0, len(motion), self.batch_size):
            refs = [(0, t) for t in range(first, min(first + self.batch_size, len(motion)))]
            yield from self.draw([clip], refs)
