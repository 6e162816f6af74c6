"""Photo preparation: the crop around the main face, its landmarks, pose, normalized shape and irises."""

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from space.errors import NoFaceError
from space.face.backend import LandmarkBackend
from space.face.geometry import repose
from space.portrait import FaceTooSmallError, Portrait, astronaut_portrait, load_portrait, portrait_from_image


def check_portrait(portrait: Portrait, size: int):
    assert portrait.image.shape == (size, size, 3) and portrait.image.dtype == np.uint8
    assert portrait.landmarks.shape == (68, 2) and portrait.pose.shape == (6,)
    assert portrait.normalized.shape == (68, 3) and portrait.ring.shape[1] == 3 and portrait.iris.shape == (2, 2)
    # The normalized shape re-posed is the detected landmarks (the 3D lift keeps the detected x, y).
    np.testing.assert_allclose(repose(portrait.normalized, portrait.pose)[:, :2], portrait.landmarks, atol=1e-6)
    # Head and shoulders: the face is in the middle of the crop and about half its width.
    lo, hi = portrait.landmarks.min(0), portrait.landmarks.max(0)
    centre = (lo + hi) / 2 / size
    assert 0.4 < centre[0] < 0.6 and 0.35 < centre[1] < 0.6, centre
    assert 0.35 < (hi - lo)[0] / size < 0.72  # 0.72: a small photo tightens the crop to 1.6 x the face
    # Each iris lies inside its eye's bounding box.
    for e, eye in enumerate((portrait.landmarks[36:42], portrait.landmarks[42:48])):
        assert np.all(portrait.iris[e] >= eye.min(0) - 1) and np.all(portrait.iris[e] <= eye.max(0) + 1)


def test_astronaut_crop_pose_and_normalized(astronaut):
    check_portrait(astronaut, 256)
    assert astronaut.source == "skimage.data.astronaut"
    yaw, pitch, roll = astronaut.pose[:3]
    assert abs(yaw) < 10 and abs(pitch) < 15 and abs(roll) < 10  # she faces the camera
    assert abs(astronaut.pose[3] - 128) < 20 and astronaut.pose[5] > 0


def test_larger_portrait_is_the_same_crop(astronaut):
    big = astronaut_portrait(512)
    check_portrait(big, 512)
    assert np.abs(big.landmarks / 2 - astronaut.landmarks).mean() < 1.5
    np.testing.assert_allclose(big.pose[:3], astronaut.pose[:3], atol=3.0)
    np.testing.assert_allclose(big.iris / 2, astronaut.iris, atol=1.5)


def test_face_near_the_edge_slides_the_crop_inside_the_photo(astronaut):
    # The face close to the photo's top-left corner: the crop slides (the face off-centre) rather than padding
    # with made-up pixels.
    photo = skimage.data.astronaut()[60:, 150:]
    portrait = portrait_from_image(photo, source="corner.png")
    assert portrait.source == "corner.png"
    lo, hi = portrait.landmarks.min(0), portrait.landmarks.max(0)
    assert np.all(lo > 0.1 * 256) and np.all(hi < 0.9 * 256)  # the face is well inside the crop
    assert 0.35 < (hi - lo)[0] / 256 < 0.65
    # Every pixel is the photo's: the crop is a resampled window of it (no replicated rows or columns).
    rows_flat = np.abs(np.diff(portrait.image[:10].astype(int), axis=0)).max(axis=(1, 2))
    assert (rows_flat > 2).all()


def test_a_photo_smaller_than_the_crop_is_padded_softly():
    # A tight face crop: the head-and-shoulders square needs pixels the photo does not have. The photo's edge is
    # carried out and blurred: no stripes of replicated edge pixels.
    photo = skimage.data.astronaut()[50:170, 165:265]
    portrait = portrait_from_image(photo, source="tight.png")
    check_portrait(portrait, 256)
    from space.face.dlib_backend import DlibBackend
    from space.face.tracking import main_face
    from space.portrait import crop_square, fit_crop

    boxes = DlibBackend().detect(photo).astype(np.float64)
    cx, cy, side = fit_crop(boxes[main_face(boxes, photo.shape[1], photo.shape[0])], photo.shape[1], photo.shape[0])
    assert side > min(photo.shape[:2])  # this photo does need padding
    hard = crop_square(photo, cx, cy, side, 256).astype(float)
    soft = crop_square(photo, cx, cy, side, 256, soft_border=True).astype(float)
    np.testing.assert_array_equal(soft, portrait.image)
    band = slice(-10, None)  # the right edge lies outside this photo
    along = lambda image: np.abs(np.diff(image[:, band], axis=0)).mean()  # noqa: E731  (variation along the edge)
    assert along(soft) < 0.5 * along(hard), (along(soft), along(hard))
    # Well inside the photo (10 crop pixels from its edges) the two are the same pixels.
    k = 256 / side
    x0, y0 = (0 - (cx - side / 2)) * k + 10, (0 - (cy - side / 2)) * k + 10
    x1, y1 = (photo.shape[1] - (cx - side / 2)) * k - 10, (photo.shape[0] - (cy - side / 2)) * k - 10
    inside = (slice(max(int(y0), 0), int(y1)), slice(max(int(x0), 0), int(x1)))
    assert np.abs(soft[inside] - hard[inside]).max() <= 1


def test_large_photo_is_detected_downscaled(astronaut):
    photo = cv2.resize(skimage.data.astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    portrait = portrait_from_image(photo, source="big.png")
    check_portrait(portrait, 256)
    # The detector's box differs a little between scales, so the crop does too (a few pixels).
    assert np.abs(portrait.landmarks - astronaut.landmarks).mean() < 8
    np.testing.assert_allclose(portrait.pose[:3], astronaut.pose[:3], atol=4.0)


def test_no_face_names_the_source(tmp_path):
    plain = np.full((240, 320, 3), (120, 170, 230), np.uint8)
    with pytest.raises(NoFaceError, match="plain.png: no face found"):
        portrait_from_image(plain, source="plain.png")
    path = tmp_path / "sky.png"
    Image.fromarray(plain).save(path)
    with pytest.raises(NoFaceError, match="sky.png: no face found") as caught:
        load_portrait(str(path))
    assert caught.value.source == str(path) and caught.value.kind == "no_face"


class TinyFaces(LandmarkBackend):
    """A backend that finds one 30-pixel face."""

    name = "tiny"

    def detect(self, image):
        return np.array([[100, 100, 130, 130, 1.0]], np.float32)

    def landmarks(self, images, boxes):
        raise AssertionError("landmarks must not be asked for a face that is too small")


def test_too_small_face_is_a_typed_error():
    photo = np.zeros((400, 400, 3), np.uint8)
    with pytest.raises(FaceTooSmallError, match="small.jpg: the face is 30 px") as caught:
        portrait_from_image(photo, source="small.jpg", backend=TinyFaces())
    assert isinstance(caught.value, NoFaceError) and caught.value.kind == "face_too_small"


def test_load_portrait_reads_a_file(tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    portrait = load_portrait(str(path))
    assert portrait.source == str(path)
    np.testing.assert_array_equal(portrait.image, astronaut.image)


def test_corpus_keeps_its_old_names():
    from space.synth import corpus

    assert corpus.Portrait is Portrait and corpus.astronaut_portrait is astronaut_portrait
