"""FanBackend on random-weight networks of the real face-alignment architectures, saved under the real names.

Nothing here downloads: the weight files are made in temporary folders, in both formats face-alignment
has shipped (1.5 state dicts, <= 1.4 TorchScript archives), and face-alignment itself is pointed at them
(through $TORCH_HOME) to check that FanBackend computes the same numbers it does.
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("face_alignment")

import face_alignment  # noqa: E402
from face_alignment.detection.sfd import sfd_detector  # noqa: E402
from face_alignment.detection.sfd.net_s3fd import s3fd  # noqa: E402
from face_alignment.models import FAN, ResNetDepth  # noqa: E402
from face_alignment.utils import draw_gaussian  # noqa: E402

from space.errors import MissingWeightsError  # noqa: E402
from space.face.backend import make_backend  # noqa: E402
from space.face.fan_backend import (  # noqa: E402
    DEPTH_FILES,
    FAN_FILES,
    SFD_FILES,
    _KERNEL,
    FanBackend,
    _Place,
    depth_heatmap_index,
)

FAN_PTH, DEPTH_PTH, SFD_PTH = FAN_FILES[0], DEPTH_FILES[0], SFD_FILES[0]  # face-alignment 1.5
FAN_ZIP, DEPTH_ZIP = FAN_FILES[1], DEPTH_FILES[1]  # face-alignment <= 1.4 (torch >= 1.7)


# -- weight files ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nets():
    torch.manual_seed(0)
    return FAN(4).eval(), ResNetDepth().eval()


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory, nets) -> Path:
    """The three files face-alignment 1.5 downloads, as it stores them (state dicts)."""
    fan, depth = nets
    folder = tmp_path_factory.mktemp("fa15")
    torch.save(fan.state_dict(), folder / FAN_PTH)
    # the depth checkpoint is a training checkpoint of a DataParallel model: {"state_dict": {"module.…": …}},
    # which face-alignment loads with weights_only=False; a pickled extra makes weights_only=True refuse it
    state = {f"module.{k}": v for k, v in depth.state_dict().items()}
    torch.save({"state_dict": state, "args": argparse.Namespace(arch="resnet152")}, folder / DEPTH_PTH)
    torch.manual_seed(1)
    torch.save(s3fd().state_dict(), folder / SFD_PTH)
    return folder


def _link(src: Path, dst: Path, names) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.symlink(src / name, dst / name)
    return dst


@pytest.fixture(scope="session")
def landmarks_only_dir(tmp_path_factory, weights_dir) -> Path:
    return _link(weights_dir, tmp_path_factory.mktemp("lm_only"), [FAN_PTH, DEPTH_PTH])


class _LastHeatmaps(torch.nn.Module):
    """face-alignment <= 1.4's traced FAN returned the last hourglass' heatmaps only."""

    def __init__(self, fan):
        super().__init__()
        self.fan = fan

    def forward(self, x):
        return self.fan(x)[-1]


@pytest.fixture(scope="session")
def torchscript_dir(tmp_path_factory, nets) -> Path:
    """The same networks as TorchScript archives under face-alignment 1.4's names."""
    fan, depth = nets
    folder = tmp_path_factory.mktemp("fa14")
    with torch.inference_mode(False), torch.no_grad():
        torch.jit.save(torch.jit.trace(_LastHeatmaps(fan), torch.rand(1, 3, 256, 256)), str(folder / FAN_ZIP))
        torch.jit.save(torch.jit.trace(depth, torch.rand(1, 71, 256, 256)), str(folder / DEPTH_ZIP))
    return folder


# -- inputs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def faces():
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),
        rng.integers(0, 256, (120, 80, 3), dtype=np.uint8),
    ]
    # float boxes, one reaching past the image border (the crop pads with black, as face-alignment does)
    boxes = np.array([[30.5, 20.25, 90.0, 80.75], [-5.0, 30.0, 70.5, 110.0]])
    return images, boxes


@pytest.fixture(scope="session")
def backend(landmarks_only_dir):
    return FanBackend(str(landmarks_only_dir), device="cpu", batch_size=2)


@pytest.fixture(scope="session")
def batched(backend, faces):
    return backend.landmarks(*faces)


@pytest.fixture(scope="session")
def one_by_one(backend, faces):
    backend.batch_size = 1
    try:
        return backend.landmarks(*faces)
    finally:
        backend.batch_size = 2


def _crop_square(box):
    """face-alignment's crop: a square of side 200 * (w + h) / 195 around the box center, raised 12%."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side = 200.0 * (w + h) / 195.0
    cx, cy = x2 - w / 2, y2 - h / 2 - 0.12 * h
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, side


# -- tests -----------------------------------------------------------------------------------------------


def test_file_names_are_face_alignments():
    urls = face_alignment.api.models_urls
    assert os.path.basename(urls["3DFAN-4"]) == FAN_PTH
    assert os.path.basename(urls["depth"]) == DEPTH_PTH
    assert os.path.basename(sfd_detector.models_urls["s3fd"]) == SFD_PTH


def test_landmarks_from_folder(backend, batched, faces):
    images, boxes = faces
    assert backend.name == "fan" and backend.gives_depth
    assert os.path.basename(backend.fan_path) == FAN_PTH
    assert os.path.basename(backend.depth_path) == DEPTH_PTH
    assert batched.shape == (2, 68, 3) and batched.dtype == np.float32
    assert np.isfinite(batched).all()
    for pts, box in zip(batched, boxes):
        x1, y1, x2, y2, side = _crop_square(box)
        # x, y decoded from the 64x64 heatmaps lie inside the crop (to a heatmap pixel, then truncated)
        assert (pts[:, 0] >= x1 - 2).all() and (pts[:, 0] <= x2 + 2).all()
        assert (pts[:, 1] >= y1 - 2).all() and (pts[:, 1] <= y2 + 2).all()
        # z is the depth output scaled by side / 256: a random network gives small values, never huge
        assert np.abs(pts[:, 2]).max() < 10 * side


def test_batching_matches_one_by_one(batched, one_by_one):
    np.testing.assert_allclose(batched[:, :, :2], one_by_one[:, :, :2], atol=1e-4)
    np.testing.assert_allclose(batched[:, :, 2], one_by_one[:, :, 2], rtol=1e-3, atol=1e-5)


def test_empty_input(backend):
    out = backend.landmarks([], np.zeros((0, 4)))
    assert out.shape == (0, 68, 3) and out.dtype == np.float32


def test_bad_input(backend, faces):
    images, boxes = faces
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        backend.landmarks(images, boxes[:1])
    with pytest.raises(ValueError, match="box 1"):
        backend.landmarks(images, np.array([[0, 0, 10, 10], [5, 5, 5, 9]]))
    with pytest.raises(ValueError, match="uint8"):
        backend.landmarks([images[0].astype(np.float32)], boxes[:1])


def test_same_numbers_as_face_alignment(one_by_one, faces, weights_dir, tmp_path, monkeypatch):
    """face_alignment.FaceAlignment on the same weight files, found in its own cache, gives the same points."""
    _link(weights_dir, tmp_path / "hub" / "checkpoints", [FAN_PTH, DEPTH_PTH, SFD_PTH])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fa = face_alignment.FaceAlignment(
        face_alignment.LandmarksType.THREE_D, device="cpu", flip_input=False, compile=False
    )
    images, boxes = faces
    theirs = np.stack([fa.get_landmarks_from_image(im, detected_faces=[b])[0] for im, b in zip(images, boxes)])
    np.testing.assert_array_equal(one_by_one[:, :, :2], theirs[:, :, :2])
    np.testing.assert_allclose(one_by_one[:, :, 2], theirs[:, :, 2], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_flip_input_same_numbers_as_face_alignment(faces, weights_dir, tmp_path, monkeypatch):
    _link(weights_dir, tmp_path / "hub" / "checkpoints", [FAN_PTH, DEPTH_PTH, SFD_PTH])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fa = face_alignment.FaceAlignment(
        face_alignment.LandmarksType.THREE_D, device="cpu", flip_input=True, compile=False
    )
    images, boxes = faces
    ours = FanBackend(device="cpu", flip_input=True).landmarks(images[:1], boxes[:1])
    theirs = fa.get_landmarks_from_image(images[0], detected_faces=[boxes[0]])[0]
    np.testing.assert_array_equal(ours[0, :, :2], theirs[:, :2])
    np.testing.assert_allclose(ours[0, :, 2], theirs[:, 2], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_torchscript_archives_give_the_same_result(torchscript_dir, faces, batched):
    fb = FanBackend(str(torchscript_dir), device="cpu", batch_size=2)
    assert os.path.basename(fb.fan_path) == FAN_ZIP and os.path.basename(fb.depth_path) == DEPTH_ZIP
    assert isinstance(fb.fan, torch.jit.ScriptModule) and isinstance(fb.depth, torch.jit.ScriptModule)
    out = fb.landmarks(*faces)
    np.testing.assert_allclose(out[:, :, :2], batched[:, :, :2], atol=1e-4)
    np.testing.assert_allclose(out[:, :, 2], batched[:, :, 2], rtol=1e-3, atol=1e-5)


def test_empty_folder_raises_missing_weights(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        FanBackend(str(tmp_path), device="cpu")
    message = str(err.value)
    assert err.value.kind == "missing_weights" and err.value.source == str(tmp_path)
    for name in FAN_FILES + DEPTH_FILES:
        assert name in message
    assert str(tmp_path) in message and "\n" not in message
    # the same through the backend factory, and with a file:// URI
    with pytest.raises(MissingWeightsError):
        make_backend("fan", weights=str(tmp_path), device="cpu")
    with pytest.raises(MissingWeightsError) as err:
        FanBackend(f"file://{tmp_path}", device="cpu")
    assert err.value.source == f"file://{tmp_path}" and f"looked in {tmp_path};" in str(err.value)


def test_missing_one_file_names_only_that_one(tmp_path, weights_dir):
    _link(weights_dir, tmp_path, [FAN_PTH])
    with pytest.raises(MissingWeightsError) as err:
        FanBackend(str(tmp_path), device="cpu")
    assert DEPTH_PTH in str(err.value) and FAN_PTH not in str(err.value)


def test_no_such_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match="no such folder"):
        FanBackend(str(tmp_path / "nope"), device="cpu")


def test_detector_loads_lazily_and_needs_its_own_file(backend):
    assert backend._sfd is None
    with pytest.raises(MissingWeightsError) as err:
        backend.detect(np.zeros((32, 32, 3), np.uint8))
    assert SFD_PTH in str(err.value) and FAN_PTH not in str(err.value)


def test_default_cache_honours_torch_home(tmp_path, monkeypatch, weights_dir):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    with pytest.raises(MissingWeightsError) as err:
        FanBackend(device="cpu")
    assert str(checkpoints) in str(err.value)

    _link(weights_dir, checkpoints, [FAN_PTH, DEPTH_PTH, SFD_PTH])
    fb = FanBackend(device="auto")
    assert fb.fan_path == str(checkpoints / FAN_PTH) and fb.depth_path == str(checkpoints / DEPTH_PTH)
    assert fb.device.type == ("cuda" if torch.cuda.is_available() else "cpu")

    # detect, with the detector file found in the same place; a random S3FD may "find" many boxes
    rng = np.random.default_rng(1)
    found = fb.detect(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))
    assert fb.sfd_path == str(checkpoints / SFD_PTH)
    assert found.ndim == 2 and found.shape[1] == 5 and found.dtype == np.float32
    assert np.isfinite(found).all()
    if len(found):
        assert (found[:, 4] > 0.5).all()


def test_fsspec_folder_is_copied_once(tmp_path, weights_dir):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = f"/fan-weights-{uuid.uuid4().hex}"
    uri = f"memory://{root}"
    cache = tmp_path / "cache"
    try:
        fs.pipe(f"{root}/{FAN_PTH}", (weights_dir / FAN_PTH).read_bytes())
        with pytest.raises(MissingWeightsError) as err:
            FanBackend(uri, device="cpu", cache_dir=str(cache))
        assert DEPTH_PTH in str(err.value) and uri in str(err.value)

        fs.pipe(f"{root}/{DEPTH_PTH}", (weights_dir / DEPTH_PTH).read_bytes())
        fb = FanBackend(uri, device="cpu", cache_dir=str(cache))
        assert Path(fb.fan_path).parent.parent.parent == cache
        assert os.path.getsize(fb.fan_path) == (weights_dir / FAN_PTH).stat().st_size
        assert os.path.getsize(fb.depth_path) == (weights_dir / DEPTH_PTH).stat().st_size
        stamp = os.stat(fb.fan_path).st_mtime_ns
        assert _Place.open(uri, str(cache)).find(FAN_FILES) == fb.fan_path
        assert os.stat(fb.fan_path).st_mtime_ns == stamp  # not copied again
        assert sorted(os.listdir(Path(fb.fan_path).parent)) == sorted([FAN_PTH, DEPTH_PTH])
    finally:
        if fs.exists(root):
            fs.rm(root, recursive=True)


def test_reduced_precision_is_cuda_only(landmarks_only_dir):
    with pytest.warns(UserWarning, match="CUDA autocast only"):
        fb = FanBackend(str(landmarks_only_dir), device="cpu", dtype=torch.bfloat16)
    assert fb.autocast_dtype is None
    with pytest.raises(ValueError):
        FanBackend(str(landmarks_only_dir), device="cpu", dtype="int8")


def test_depth_heatmaps_are_face_alignments_gaussians():
    """The depth network's input maps, built at once on the device, equal draw_gaussian's one by one."""
    rng = np.random.default_rng(2)
    edge = np.arange(-9, 266, dtype=np.float64)
    points = np.concatenate(
        [
            np.stack([edge, rng.choice(edge, len(edge))], 1),
            np.stack([rng.choice(edge, len(edge)), edge], 1),
            rng.uniform(-10, 266, (200, 2)),
        ]
    )
    np.testing.assert_array_equal(_KERNEL, face_alignment.utils._GAUSS_KERNEL)
    rows, cols = depth_heatmap_index(points)
    kernel = np.pad(_KERNEL, ((0, 1), (0, 1)))
    for p, r, c in zip(points, rows, cols):
        expected = np.zeros((256, 256), np.float32)
        if p[0] > 0 and p[1] > 0:  # face-alignment skips these before drawing
            expected = draw_gaussian(expected, p, 2)
        np.testing.assert_array_equal(kernel[r[:, None], c[None, :]], expected, err_msg=str(p))
