"""Fixtures shared across test folders."""

import pytest


@pytest.fixture(scope="session")
def dlib_backend():
    """The offline landmark backend (dlib's HOG detector and the 68-point predictor that ships in a package)."""
    from space.face.dlib_backend import DlibBackend

    return DlibBackend()


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut photo prepared as a 256 x 256 portrait."""
    from space.portrait import astronaut_portrait

    return astronaut_portrait(256)
