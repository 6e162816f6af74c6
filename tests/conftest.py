"""Fixtures shared across test folders."""

import pytest

# One S3 server (SeaweedFS) for the whole session. Imported into each test module instead, the session fixture
# would start one server per module, and fsspec's cached S3 filesystem (keyed by its arguments, not by the
# AWS_ENDPOINT_URL it was made under) would keep talking to the first one.
from tests.support.seaweed import seaweed_s3  # noqa: E402, F401


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


@pytest.fixture(scope="session")
def photo_path(tmp_path_factory):
    """scikit-image's astronaut photo as a PNG file (the whole photo, not a crop)."""
    import skimage.data
    from PIL import Image

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return str(path)


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """2.3 s of formant-synthesised speech: (wav path, samples, the synthesiser's per-frame mouth openness)."""
    import numpy as np

    from space.io.audio import write_wav
    from space.synth.speech import synthesize_speech

    s = synthesize_speech(2.3, seed=7)
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    write_wav(path, s.audio)
    return str(path), s.audio.astype(np.float32), s.mouth_open
