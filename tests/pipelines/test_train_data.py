"""Training data from the lake (no Ray): splits by video, windows with every array a stage needs, landmarks
mapped into the face-vid2vid crop, presets and their overrides."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.train.data import TrainingDataError, assign_splits, clip_sequences, clip_table, window_batches
from pipelines.train.presets import apply_overrides, preset
from tests.support.lakes import make_training_lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_training_lake(tmp_path_factory.mktemp("train"), clips=6)


def test_splits_keep_videos_apart_and_validation_is_never_empty():
    videos = ["a", "a", "b", "c", "c", "d"]
    splits = assign_splits(videos, [None] * 6)
    assert "val" in splits and "train" in splits
    for v in set(videos):
        assert len({s for s, w in zip(splits, videos) if w == v}) == 1  # one video, one side
    assert assign_splits(["a", "b"], ["train", "train"]) == ["train", "train"]  # the manifest's word stands
    assert assign_splits(videos, [None] * 6) == splits  # stable


def test_clip_table_and_windows_per_stage(lake):
    for stage, keys, shapes in (
        ("s2l", {"features", "normalized", "identity", "emotion"}, {"normalized": (68, 3), "identity": (68, 3)}),
        ("pose", {"features", "poses", "emotion"}, {"poses": (6,)}),
        ("l2l", {"features", "landmarks", "targets", "canonical", "emotion"}, {"targets": (51,), "canonical": (15, 3)}),
    ):
        table = clip_table(lake, stage)
        assert table.num_rows == 6 and set(table.column("split").to_pylist()) == {"train", "val"}
        windows = list(window_batches(table.slice(0, 2), stage, frames=25, stride=10))
        assert windows
        for w in windows:
            assert keys <= set(w)
            n = len(w["clip_id"])
            assert w["features"].shape == (n, 25, 20, 80) and w["emotion"].shape == (n, 8)
            for key, shape in shapes.items():
                per = shape if key in ("identity", "canonical") else (25, *shape)
                assert w[key].shape == (n, *per), key
        assert len(clip_sequences(table.slice(0, 1), stage)) == 1


def test_l2l_landmarks_are_in_the_crop_coordinates(lake):
    """The mapped landmarks sit inside the face-vid2vid crop: x, y in about [-1, 1], the face in its middle."""
    table = clip_table(lake, "l2l")
    clip = clip_sequences(table.slice(0, 1), "l2l")[0]
    xy = clip.landmarks[..., :2]
    assert np.abs(xy).max() < 1.0 and np.abs(xy.mean((0, 1))).max() < 0.3
    width = xy[..., 0].max(1) - xy[..., 0].min(1)
    assert 0.6 < width.mean() < 1.1  # coordinates span 2 over the crop, which is 2.2x the face box


def test_a_lake_without_keypoints_cannot_feed_l2l(tmp_path):
    plain = make_training_lake(tmp_path, clips=2, keypoints=False)
    with pytest.raises(TrainingDataError, match="kp_params"):
        clip_table(plain, "l2l")


def test_presets_and_overrides():
    base = preset("s2l", "small")
    changed = apply_overrides(base, ["epochs=2", "lr=0.001", "model.hidden=64", "amp=false"])
    assert (changed.epochs, changed.lr, changed.model, changed.amp) == (2, 0.001, {"hidden": 64}, False)
    assert changed.digest != base.digest
    with pytest.raises(ValueError, match="unknown training setting 'epoch'"):
        apply_overrides(base, ["epoch=2"])
    with pytest.raises(ValueError, match="no preset"):
        preset("s2l", "huge")


def test_l2l_preset_follows_the_lakes_keypoint_space():
    """A lake of LivePortrait keypoints trains an L2L with 21 keypoints and 70 params, face-vid2vid's 15 and 51;
    a preset naming other sizes is refused with both named."""
    import dataclasses

    import pyarrow as pa

    from pipelines.train.trainer import fit_l2l_preset

    def table(k, p):
        return pa.table({"kp_canonical_shape": [[k, 3]], "kp_params_shape": [[40, p]]})

    assert fit_l2l_preset(preset("l2l", "tiny"), table(21, 70), "lake").model == {"keypoints": 21, "params": 70}
    fitted = fit_l2l_preset(preset("l2l", "tiny"), table(15, 51), "lake")
    assert fitted.model == {"keypoints": 15, "params": 51} and fitted.epochs == preset("l2l", "tiny").epochs
    with pytest.raises(ValueError, match=r"lake: the lake's keypoints are 21 x 3 with 70 head params.*params=51"):
        fit_l2l_preset(dataclasses.replace(preset("l2l", "tiny"), model={"params": 51}), table(21, 70), "lake")
