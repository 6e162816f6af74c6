"""The interface every landmark backend implements, and how a backend is chosen by name.

A backend does two things on RGB uint8 images: find face boxes, and place 68 iBUG landmarks inside given
boxes. Everything after that (choosing and tracking one face, the head-pose fit, the 3D lift, normalization)
is shared, in space.face.landmarks, so that the backends differ only where the models differ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np


class LandmarkBackend(ABC):
    #: name used on the command line (`--backend`)
    name: str = ""
    #: True when `landmarks` returns a meaningful z (x, y, z); False for 2D models (z is then lifted by the fit)
    gives_depth: bool = False

    @abstractmethod
    def detect(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (K, 5) float32 boxes x1, y1, x2, y2, score, in pixels; K may be 0."""

    @abstractmethod
    def landmarks(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """One face box per image ((T, 4) x1, y1, x2, y2) -> (T, 68, 2) or (T, 68, 3) float32 pixels."""


def make_backend(name: str, **options) -> LandmarkBackend:
    """Build a backend by name: `dlib` (offline, CPU) or `fan` (face-alignment, CPU or GPU)."""
    if name == "dlib":
        from .dlib_backend import DlibBackend

        return DlibBackend(**options)
    if name == "fan":
        from .fan_backend import FanBackend

        return FanBackend(**options)
    raise ValueError(f"unknown landmark backend {name!r}: choose 'dlib' or 'fan'")
