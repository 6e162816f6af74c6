"""Training data from the lake (no Ray): splits by video, windows with every array a stage needs, landmarks
mapped into the face-vid2vid crop, presets and their overrides."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.train.data import TrainingDataError, assign_splits, clip_sequences, clip_table, window_batches
from pipelines.train.presets import apply_overrides, preset
from tests.support.lakes import make_training_lake
from tests.support.paths import SHARED_DATA, needs_shared


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



def _with_audio(lake, table):
    """`table` (clip_table's, av_sync off) with each clip's raw audio joined back, as clip_table reads it."""
    seq = lake.read("sequences", columns=["id", "audio", "audio_shape"])
    rows = [seq.column("id").to_pylist().index(cid) for cid in table.column("id").to_pylist()]
    seq = seq.take(rows)
    table = table.drop(["av_offset"])
    return table.append_column("audio", seq.column("audio")).append_column("audio_shape", seq.column("audio_shape"))


def _sound_late(table, clip: int, frames: int):
    """`table` where clip `clip`'s sound (raw audio and features alike) starts `frames` frames late: a source
    muxed out of step. The other clips are as they were."""
    import pyarrow as pa

    from pipelines.lake import pack_column, unpack_column

    from space.eval.lipsync import mouth_opening

    face = unpack_column(table, "normalized", "normalized_shape")[clip]
    count = len(face)
    for name in ("audio", "audio_features"):
        values = unpack_column(table, name, f"{name}_shape")
        sound = values[clip]
        if name == "audio":  # a voice as loud as the mouth is open, so the measure has one clear answer
            per = len(sound) // count
            noise = np.random.default_rng(0).normal(size=(count, per))
            sound = (noise * (mouth_opening(face)[:, None] + 0.02)).reshape(-1).astype(np.float32)
        cut = frames * (len(sound) // count if name == "audio" else 1)
        pad = np.zeros_like(sound[:cut]) if name == "audio" else np.repeat(sound[:1], cut, 0)
        values[clip] = np.concatenate([pad, sound[: len(sound) - cut]])
        flat, shapes = pack_column(values)
        table = table.set_column(table.schema.get_field_index(name), name, flat)
        table = table.set_column(table.schema.get_field_index(f"{name}_shape"), f"{name}_shape", shapes)
    return table


def test_a_clip_whose_sound_trails_its_face_is_re_paired_or_left_out(lake):
    """The synthetic clips are in sync (offset 0, nothing changes); a clip whose sound (a voice made as loud as
    its mouth is open) starts 7 frames late (as one of the real reference videos' does) is measured at -7 (its
    mouth moves before its sound). `shift` pairs each face frame with its own sound again, exactly the clip as
    it was before the delay, 7 frames shorter; `skip` leaves it out; `off` keeps it as it came. The delayed clip
    is the longest: clips shorter than MIN_SYNC_FRAMES are taken as in sync, and the clips' order (by id)
    changes with the lake's folder."""
    from pipelines.lake import unpack_column
    from pipelines.train.data import (
        MIN_SYNC_FRAMES, STAGE_ARRAYS, apply_av_sync, nonzero_offsets, sync_note, with_offsets,
    )

    table = clip_table(lake, "s2l")
    assert table.column("av_offset").to_pylist() == [0] * table.num_rows and sync_note(table, "shift") is None
    plain = clip_table(lake, "s2l", av_sync="off")
    lengths = [len(f) for f in unpack_column(plain, "normalized", "normalized_shape")]
    clip = int(np.argmax(lengths))
    assert lengths[clip] - 7 >= MIN_SYNC_FRAMES
    late = _sound_late(_with_audio(lake, plain), clip=clip, frames=7)
    keep = STAGE_ARRAYS["s2l"]

    shifted = apply_av_sync(late, "shift", keep)
    expected = [0] * table.num_rows
    expected[clip] = -7
    assert shifted.column("av_offset").to_pylist() == expected
    assert "audio" not in shifted.column_names  # read for the measure only
    assert sync_note(shifted, "shift").startswith("1 clip(s)")
    before, after = clip_sequences(plain.slice(clip, 1), "s2l")[0], clip_sequences(shifted.slice(clip, 1), "s2l")[0]
    assert len(after) == len(before) - 7
    np.testing.assert_array_equal(after.features.numpy(), before.features[: len(after)].numpy())
    np.testing.assert_array_equal(after.normalized, before.normalized[: len(after)])
    window = next(window_batches(shifted.slice(clip, 1), "s2l", frames=25, stride=10))
    np.testing.assert_array_equal(window["features"][0], before.features[:25].numpy())
    # the training workers get the driver's offsets instead of measuring again
    again = with_offsets(plain, nonzero_offsets(shifted))
    assert again.column("av_offset").to_pylist() == shifted.column("av_offset").to_pylist()

    skipped = apply_av_sync(late, "skip", keep)
    assert skipped.num_rows == table.num_rows - 1
    assert late.column("id")[clip].as_py() not in skipped.column("id").to_pylist()
    assert sync_note(skipped, "skip").endswith("left out (av_sync=skip)")
    kept = clip_sequences(apply_av_sync(late, "off", keep).slice(clip, 1), "s2l")[0]
    assert len(kept) == len(before)
    with pytest.raises(ValueError, match="unknown av_sync 'maybe'"):
        clip_table(lake, "s2l", av_sync="maybe")


@needs_shared
def test_the_real_reference_whose_sound_trails_is_found_in_the_lake(tmp_path):
    """Through the preprocessing job's own path (dlib landmarks, the lake): v12 (LivePortrait's driving clip,
    its mouth 7 frames ahead of its sound; benchmarks/eval_reconstruction.py) is measured at -7, v03 at 0."""
    from pipelines.lake import Lake
    from pipelines.preprocess import PreprocessRun, PreprocessSettings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("v12_young_man_outdoor_liveportrait_d20.mp4", "v03_man_suit_retalking1.mp4"):
        (corpus / name).symlink_to(SHARED_DATA / "videos" / name)
    lake = Lake(str(tmp_path / "lake"))
    PreprocessRun(str(corpus), lake, PreprocessSettings(), log=lambda _: None).execute()
    table = clip_table(lake, "s2l")
    clips = lake.read("clips", columns=["id", "uri"])
    names = (uri.rsplit("/", 1)[-1][:3] for uri in clips.column("uri").to_pylist())
    source = dict(zip(clips.column("id").to_pylist(), names))
    offsets = {source[c]: o for c, o in zip(table.column("id").to_pylist(), table.column("av_offset").to_pylist())}
    assert offsets == {"v12": -7, "v03": 0}
