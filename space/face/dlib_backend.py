"""Offline landmark backend: dlib's HOG face detector and its 68-point shape predictor.

The predictor file ships inside the `face-recognition-models` package, so this backend needs no download. It is
2D: depth comes from fitting the 3D mean face (space.face.pose_fit), which also gives the head pose.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MissingWeightsError
from .backend import LandmarkBackend


PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def default_predictor_path() -> Path:
    """The predictor inside face-recognition-models, found without importing the package (its __init__ needs
    pkg_resources, which recent setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError("face_recognition_models", "package not installed; pip install face-recognition-models")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE


class DlibBackend(LandmarkBackend):
    name = "dlib"
    gives_depth = False

    def __init__(self, predictor: str | Path | None = None, upsample: int = 1, min_score: float = 0.0):
        import dlib

        path = Path(predictor) if predictor else default_predictor_path()
        if not path.is_file():
            raise MissingWeightsError(str(path), "dlib 68-point shape predictor not found")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        self._dlib = dlib
        # HOG finds faces down to ~80 px; one upsampling step halves that at 4x the cost.
        self.upsample = upsample
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> np.ndarray:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(image), self.upsample, self.min_score)
        boxes = [[r.left(), r.top(), r.right(), r.bottom(), s] for r, s in zip(rects, scores)]
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 5)

    def landmarks(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        out = np.empty((len(images), 68, 2), dtype=np.float32)
        for i, (image, box) in enumerate(zip(images, np.asarray(boxes))):
            rect = self._dlib.rectangle(*(int(round(v)) for v in box[:4]))
            shape = self._predictor(np.ascontiguousarray(image), rect)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out
