import io
import os

import fsspec
import pytest
import torch

import space
from space.errors import MissingFileError, MissingWeightsError
from space.models.checkpoint import (
    CHECKPOINTS_DIR, FORMAT, CheckpointError, MissingCheckpointError, default_checkpoint_path, load_checkpoint,
    resolve_checkpoint, save_checkpoint,
)
from space.models.l2l import L2LConfig, Landmarks2Latents
from space.models.pose import PoseConfig, PoseGenerator
from space.models.s2l import S2LConfig, Speech2Landmarks

SMALL = {
    "s2l": lambda: Speech2Landmarks(S2LConfig(encoder_channels=16, hidden=8, head_hidden=16, layers=1)),
    "pose": lambda: PoseGenerator(PoseConfig(encoder_channels=16, hidden=8, layers=1, limits=(20.0, 10, 10, 0.2, 0.2, 0.05))),
    "l2l": lambda: Landmarks2Latents(L2LConfig(channels=16, hidden=8, layers=1)),
}
TRAINING = {"data": {"digest": "abc123"}, "steps": 3, "seed": 0, "metrics": {"val": torch.tensor(0.5)},
            "date": "2026-01-01T00:00:00+00:00", "command": "pytest"}


def _randomised(stage):
    torch.manual_seed(1)
    model = SMALL[stage]()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    if stage == "l2l":
        model.set_target_stats(torch.randn(100, 51) * 3 + 1)
    return model.eval()


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("stage", ["s2l", "pose", "l2l"])
def test_round_trip_local(tmp_path, stage):
    model = _randomised(stage)
    path = tmp_path / "deep" / "folder" / f"{stage}.pt"
    assert save_checkpoint(path, model, stage, TRAINING) == str(path)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in path.parent.iterdir()] == [f"{stage}.pt"]  # no temporary file left
    loaded, meta = load_checkpoint(path, stage=stage)
    assert type(loaded) is type(model) and loaded.config == model.config and _same(loaded, model)
    assert not loaded.training
    assert meta["format"] == FORMAT and meta["format_version"] == 1 and meta["stage"] == stage
    assert meta["space_version"] == space.__version__ and meta["uri"] == str(path)
    assert meta["training"]["metrics"]["val"] == 0.5 and meta["training"]["command"] == "pytest"
    loaded2, _ = load_checkpoint(str(path))  # the stage is read from the file
    assert _same(loaded2, model)


def test_round_trip_fsspec_memory():
    model = _randomised("s2l")
    uri = "memory://space-tests/checkpoints/s2l.pt"
    save_checkpoint(uri, model, training=TRAINING)
    loaded, meta = load_checkpoint(uri, stage="s2l")
    assert _same(loaded, model) and meta["uri"] == uri
    assert resolve_checkpoint("s2l", "memory://space-tests/checkpoints") == uri
    assert resolve_checkpoint("s2l", "memory://space-tests/checkpoints/") == uri


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nothing-here.pt"
    with pytest.raises(MissingCheckpointError, match=rf"{path}: no such file") as err:
        load_checkpoint(path, stage="s2l")
    assert isinstance(err.value, MissingWeightsError) and isinstance(err.value, MissingFileError)
    with pytest.raises(MissingWeightsError, match="memory://space-tests/none/pose.pt: no such file"):
        load_checkpoint("memory://space-tests/none/pose.pt")


def test_wrong_stage_names_the_file_and_both_stages(tmp_path):
    path = tmp_path / "pose.pt"
    save_checkpoint(path, _randomised("pose"), "pose")
    with pytest.raises(CheckpointError, match=rf"{path}: holds the 'pose' stage, not 's2l'"):
        load_checkpoint(path, stage="s2l")
    with pytest.raises(TypeError, match="expects a Speech2Landmarks"):
        save_checkpoint(tmp_path / "x.pt", _randomised("pose"), "s2l")


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(2000))
    with pytest.raises(CheckpointError, match=rf"{junk}: not a space checkpoint: torch cannot load it"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(CheckpointError, match=rf"{plain}: not a space checkpoint .*keys weights"):
        load_checkpoint(plain, stage="s2l")
    fv2v = tmp_path / "fv2v.pth.tar"
    torch.save({"generator": {}, "kp_detector": {}, "he_estimator": {}}, fv2v)
    with pytest.raises(CheckpointError, match="looks like a face-vid2vid checkpoint"):
        load_checkpoint(fv2v)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"{empty}: not a space checkpoint"):
        load_checkpoint(empty)


def _tampered(tmp_path, **changes):
    buffer = io.BytesIO()
    save_checkpoint("memory://space-tests/tamper/s2l.pt", _randomised("s2l"))
    with fsspec.open("memory://space-tests/tamper/s2l.pt", "rb") as f:
        payload = torch.load(f, weights_only=True)
    for key, value in changes.items():
        if key == "config_extra":
            payload["config"]["wings"] = value
        else:
            payload[key] = value
    path = tmp_path / "tampered.pt"
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_newer_format_unknown_config_and_mismatched_weights(tmp_path):
    with pytest.raises(CheckpointError, match="format version 2 is newer.*upgrade"):
        load_checkpoint(_tampered(tmp_path, format_version=2))
    with pytest.raises(CheckpointError, match="fields this version of space does not know: wings"):
        load_checkpoint(_tampered(tmp_path, config_extra=2))
    with pytest.raises(CheckpointError, match="holds an unknown stage 'vae'"):
        load_checkpoint(_tampered(tmp_path, stage="vae"))
    with pytest.raises(CheckpointError, match="weights do not fit its config"):
        load_checkpoint(_tampered(tmp_path, state_dict={"head.2.weight": torch.zeros(2)}))


def test_resolve(tmp_path):
    save_checkpoint(tmp_path / "pose.pt", _randomised("pose"))
    assert resolve_checkpoint("pose", tmp_path) == str(tmp_path / "pose.pt")
    assert resolve_checkpoint("pose", tmp_path / "pose.pt") == str(tmp_path / "pose.pt")
    with pytest.raises(MissingWeightsError, match=rf"s2l.pt: no s2l.pt in {tmp_path}"):
        resolve_checkpoint("s2l", tmp_path)
    with pytest.raises(ValueError, match="unknown stage 'face'"):
        resolve_checkpoint("face")
    assert default_checkpoint_path("s2l") == CHECKPOINTS_DIR / "s2l.pt"
    assert CHECKPOINTS_DIR == __import__("pathlib").Path(space.__file__).parent / "checkpoints"
    if not default_checkpoint_path("l2l").exists():
        with pytest.raises(MissingWeightsError, match="no default l2l.pt ships with space.*face-vid2vid"):
            resolve_checkpoint("l2l")
