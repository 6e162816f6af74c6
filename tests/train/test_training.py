"""Short plain-torch trainings on the synthetic corpus: the acceptance tests of the learned stages.

The S2L run takes about a minute on 2 CPU cores; it must bring the validation mouth error at least 30% below the
mean-face baseline (the photo held still) and make the emotion input matter.
"""

import numpy as np
import pytest
import torch

from space.models.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint
from space.models.emotion import emotion_vector
from space.models.pose import PoseGenerator
from space.models.s2l import MOUTH, Speech2Landmarks, face_size
from space.train import defaults
from space.train.data import SequenceDataset, clip_from_arrays, neutral_frame, synthetic_clips
from space.train.loop import evaluate_s2l, train_l2l, train_pose, train_s2l

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the GRUs run many small ops, and on a 2-core machine shared with other work two OpenMP
    threads wait on each other far longer than they save (seen: 100x slower). One thread is also what
    `python -m space.train.defaults` uses, so the numbers here compare with the shipped checkpoints'."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus():
    """Training and validation clips from different corpus seeds (no frames rendered)."""
    return synthetic_clips(48, seed=11), synthetic_clips(12, seed=12)


@pytest.fixture(scope="module")
def s2l(corpus):
    train, val = corpus
    model, metrics = train_s2l(train, val, steps=120, lr=2e-3, seed=0)
    return model, metrics


def test_s2l_beats_the_mean_face_by_30_percent(s2l):
    _, m = s2l
    print(f"\nS2L validation mouth error (face-size units): model {m['val_mouth_error']:.5f}, "
          f"mean-face baseline {m['val_mouth_error_baseline']:.5f}, reduction {m['val_mouth_error_reduction']:.1%} "
          f"({m['steps']} steps, {m['train_seconds']:.0f} s)")
    assert m["val_mouth_error"] <= 0.7 * m["val_mouth_error_baseline"]


def test_s2l_emotion_input_matters(s2l):
    _, m = s2l
    print(f"\nmouth-corner distance 48-54 (face-size units): happy=1 {m['val_corner_distance_happy']:.4f}, "
          f"neutral {m['val_corner_distance_neutral']:.4f}")
    # the corpus widens the mouth by 0.12 mean-face units (~0.056 face sizes) at happy=1
    assert m["val_corner_distance_happy"] > m["val_corner_distance_neutral"] + 0.02


def test_s2l_checkpoint_round_trip_keeps_the_predictions(s2l, corpus, tmp_path):
    model, metrics = s2l
    val = SequenceDataset(corpus[1])
    b = val.clip_batch(0)
    for uri in (tmp_path / "s2l.pt", "memory://space-tests/train/s2l.pt"):
        save_checkpoint(uri, model, "s2l", {"steps": metrics["steps"], "metrics": metrics})
        loaded, meta = load_checkpoint(uri, stage="s2l")
        assert meta["training"]["metrics"]["val_mouth_error"] == metrics["val_mouth_error"]
        assert torch.equal(loaded.predict(b["features"], b["identity"], b["emotion"]),
                           model.predict(b["features"], b["identity"], b["emotion"]))


def test_pose_sampling_after_training_is_seedable_and_plausible(corpus):
    train, val = corpus
    model, m = train_pose(train, val, steps=150, lr=2e-3, seed=0)
    print(f"\npose val NLL {m['val_nll']:.3f}; yaw std sampled {m['sample_std_yaw']:.2f} vs data "
          f"{m['data_std_yaw']:.2f} deg; yaw speed sampled {m['sample_speed_yaw']:.2f} vs data "
          f"{m['data_speed_yaw']:.2f} deg/frame")
    feats = SequenceDataset(val).clip_batch(1)["features"]
    a, b, c = (model.sample(feats, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a, b) and np.abs(a - c).max() > 0.5
    samples = np.concatenate([model.sample(feats, seed=s) for s in range(6)])
    # plausible ranges for a talking head: |yaw| <= 30, |pitch| <= 15, |roll| <= 15 degrees, translation within
    # 0.3 of the rest scale, scale within 10%
    assert np.all(np.abs(samples) <= np.array([30, 15, 15, 0.3, 0.3, 0.1]))
    for name in ("yaw", "pitch", "roll"):  # it moves like the data, neither frozen nor jittering
        assert 0.3 * m[f"data_std_{name}"] < m[f"sample_std_{name}"] < 2.0 * m[f"data_std_{name}"]
        assert m[f"sample_speed_{name}"] < 2.0 * m[f"data_speed_{name}"]


def test_l2l_learns_a_known_mapping(corpus):
    """Targets that are a known smooth function of the landmarks and poses (standing in for face-vid2vid's)."""
    train, val = (synthetic_clips(24, seed=21), synthetic_clips(6, seed=22))
    mix = np.random.default_rng(0).normal(0, 1, (45, 204)) / np.sqrt(204) * 8
    for clip in train + val:
        frames = len(clip)
        expression = np.tanh((clip.normalized - clip.identity).reshape(frames, -1) @ mix.T)
        translation = np.stack([clip.landmarks[:, 30, 0], clip.landmarks[:, 30, 1], np.log(clip.poses[:, 5] / 80)], 1)
        clip.targets = np.concatenate([clip.poses[:, :3], translation, expression], 1).astype(np.float32)
        clip.canonical = clip.identity[[0, 4, 8, 12, 16, 19, 24, 27, 30, 36, 45, 48, 54, 57, 62]]
    model, m = train_l2l(train, val, steps=150, lr=2e-3, seed=0)
    print(f"\nL2L val MAE: angles {m['val_mae_model_angles']:.2f} deg (baseline {m['val_mae_baseline_angles']:.2f}), "
          f"expression {m['val_mae_model_expression']:.4f} (baseline {m['val_mae_baseline_expression']:.4f})")
    assert m["val_mse_reduction"] > 0.5
    assert m["val_mae_model_angles"] < 0.5 * m["val_mae_baseline_angles"]
    assert m["val_mae_model_expression"] < 0.6 * m["val_mae_baseline_expression"]


def test_l2l_learns_liveportraits_parameter_space(corpus):
    """LivePortrait's head params (21 keypoints: yaw, pitch, roll, t, exp (63), scale = 70) train the same way:
    every part counts alike in the loss, the scale part is reported on its own, and clips of another space are refused."""
    from space.models.l2l import L2LConfig

    train, val = (synthetic_clips(16, seed=31), synthetic_clips(4, seed=32))
    mix = np.random.default_rng(1).normal(0, 1, (63, 204)) / np.sqrt(204) * 8
    for clip in train + val:
        frames = len(clip)
        expression = np.tanh((clip.normalized - clip.identity).reshape(frames, -1) @ mix.T)
        translation = np.stack([clip.landmarks[:, 30, 0], clip.landmarks[:, 30, 1], np.zeros(frames)], 1)
        scale = (clip.poses[:, 5:6] / 80).astype(np.float32)
        clip.targets = np.concatenate([clip.poses[:, :3], translation, expression, scale], 1).astype(np.float32)
        clip.canonical = clip.identity[:63:3][:21]
    config = L2LConfig(keypoints=21, params=70, channels=64, hidden=64)
    model, m = train_l2l(train, val, config, steps=120, lr=2e-3, seed=0)
    assert model(*[torch.zeros(1, 4, 68, 3), torch.zeros(1, 4, 20, 80), torch.zeros(1, 8),
                   torch.zeros(1, 21, 3)]).shape == (1, 4, 70)
    assert m["val_mse_reduction"] > 0.3 and m["val_mae_model_angles"] < 0.75 * m["val_mae_baseline_angles"]
    assert np.isfinite(m["val_mae_model_scale"]) and np.isfinite(m["val_mae_baseline_scale"])  # scale: its own group
    with pytest.raises(ValueError, match="do not fit L2L's params=51"):
        train_l2l(train, val, steps=1)  # the default config is face-vid2vid's 51


def test_clips_from_any_arrays(corpus):
    """The loader that later takes Delta rows: audio + per-frame arrays, no corpus needed."""
    src = corpus[0][2]
    normalized = src.normalized.copy()
    normalized[5, 66, 1] = normalized[5, 62, 1]  # frame 5: the inner lips meet
    normalized[5, [65, 67], 1] = normalized[5, [63, 61], 1]
    clip = clip_from_arrays(clip_id="row-7", features=src.features, emotion="sad=0.5",
                            normalized=normalized[:-1], poses=src.poses)  # one frame short: cut to the shortest
    assert len(clip) == len(src) - 1 and clip.poses.shape == (len(src) - 1, 6)
    assert neutral_frame(normalized) == 5 and np.array_equal(clip.identity, normalized[5])
    assert clip.emotion.tolist() == pytest.approx(emotion_vector({"sad": 0.5}).tolist())
    with pytest.raises(ValueError, match="clip row-8: frame counts disagree"):
        clip_from_arrays(clip_id="row-8", features=src.features, normalized=src.normalized[:-5])
    with pytest.raises(ValueError, match="clip row-9: give audio or features"):
        clip_from_arrays(clip_id="row-9", normalized=src.normalized)
    with pytest.raises(ValueError, match=r"S2L training needs normalized, identity.*missing: identity, normalized"):
        train_s2l([clip_from_arrays(clip_id="a", features=src.features, poses=src.poses)], [clip], steps=1)


def test_identity_augmentation_moves_identity_and_targets_together(corpus):
    train = SequenceDataset(corpus[0][:4], augment="random")
    rng = np.random.default_rng(0)
    first, second = train.sample_batch(2, 20, rng), train.sample_batch(2, 20, rng)
    astronaut = torch.as_tensor(corpus[0][0].identity)
    assert not torch.allclose(first["identity"][0], astronaut, atol=1e-3)
    assert not torch.allclose(first["identity"][0], second["identity"][0], atol=1e-3)
    # the displacement from the identity stays about as large as without the warp (same motion, other face)
    plain = SequenceDataset(corpus[0][:4]).sample_batch(64, 20, np.random.default_rng(1))
    warped = SequenceDataset(corpus[0][:4], augment="random").sample_batch(64, 20, np.random.default_rng(1))
    size = lambda b: (b["normalized"] - b["identity"][:, None]).norm(dim=-1).mean() / face_size(b["identity"]).mean()  # noqa: E731
    assert abs(float(size(plain)) / float(size(warped)) - 1) < 0.2
    fixed = SequenceDataset(corpus[0][:4], augment="fixed", seed=5)
    assert torch.equal(fixed.clip_batch(1)["identity"], fixed.clip_batch(1)["identity"])


def needs_engines():
    from space.synth.tts import available_engines

    reasons = [reason for reason in available_engines().values() if reason is not None]
    if reasons:
        pytest.skip("; ".join(reasons))


def test_defaults_command_writes_loadable_checkpoints(tmp_path, monkeypatch):
    needs_engines()
    monkeypatch.setattr(defaults, "QUICK", {"train_utterances": 6, "val_utterances": 3, "train_monologues": 2,
                                            "val_monologues": 2, "s2l_steps": 3, "pose_steps": 3})
    assert defaults.main(["--quick", "--out", str(tmp_path)]) == 0
    for stage in ("s2l", "pose"):
        model, meta = load_checkpoint(tmp_path / f"{stage}.pt", stage=stage)
        t = meta["training"]
        assert t["command"] == f"python -m space.train.defaults --quick --out {tmp_path}"
        assert t["steps"] == 3 and t["seed"] == 0
        train, val = t["data"]["train"], t["data"]["val"]
        assert train["config"]["seed"] != val["config"]["seed"] and train["digest"] != val["digest"]
        assert train["clips"] + train["failed_utterances"] == 6 and train["monologues"] == 2
        assert "val_clips" in t["metrics"] and t["date"]
    assert not (tmp_path / "l2l.pt").exists()


@pytest.fixture(scope="module")
def shipped():
    paths = [default_checkpoint_path(s) for s in ("s2l", "pose")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"shipped checkpoints missing ({', '.join(missing)}): run `python -m space.train.defaults`")
    s2l, meta = load_checkpoint(paths[0], stage="s2l")
    pose, pose_meta = load_checkpoint(paths[1], stage="pose")
    return s2l, meta, pose, pose_meta


def test_shipped_defaults_load_and_run(shipped):
    s2l, meta, pose, pose_meta = shipped
    assert isinstance(s2l, Speech2Landmarks) and isinstance(pose, PoseGenerator)
    for m in (meta, pose_meta):
        assert m["training"]["command"].startswith("python -m space.train.defaults")
        assert m["training"]["data"]["source"].startswith("space.synth.phonetic")
    # The formant corpus (another speech source, a seed nobody trained on), each identity warped.
    val = SequenceDataset(synthetic_clips(8, seed=999), augment="fixed", seed=1)
    m = evaluate_s2l(s2l, val)
    print(f"\nshipped S2L on formant clips: mouth error {m['val_mouth_error']:.5f} vs baseline "
          f"{m['val_mouth_error_baseline']:.5f} ({m['val_mouth_error_reduction']:.1%} lower)")
    assert m["val_corner_distance_happy"] > m["val_corner_distance_neutral"] + 0.02
    feats = val.clip_batch(0)["features"]
    out = s2l.predict(feats[0], val.clip_batch(0)["identity"][0], emotion_vector("happy=0.7"))
    assert out.shape == (feats.shape[1], 68, 3) and torch.isfinite(out).all()
    assert not torch.allclose(out[:, MOUTH], out[:1, MOUTH].expand_as(out[:, MOUTH]))  # the mouth moves
    deltas = pose.sample(feats, seed=0)
    assert deltas.shape == (feats.shape[1], 6)
    assert np.array_equal(deltas, pose.sample(feats, seed=0))
    assert np.all(np.abs(deltas) <= np.array(pose.config.limits))
    # Real talking heads move a few degrees (benchmarks/eval_head_motion.py): not the formant corpus's sweeps.
    std = np.stack([pose.sample(feats, seed=k)[:, :3] for k in range(4)]).std(1).mean(0)
    assert np.all((std > 0.8) & (std < 8.0)), std


def test_shipped_s2l_closes_and_rounds_on_sentences_it_never_heard(shipped):
    """Held-out sentences full of /p b m/ and /u o w/ (space.synth.texts.HELD_OUT), spoken by three voices:
    the lips must nearly shut on bilabials and narrow on rounded vowels. An energy follower (the S2L trained on
    formant babble) opens on loud /b m/ to half its vowel opening and keeps rounded and spread vowels alike."""
    from space.train.data import audio_windows
    from tests.support.articulation import held_out_articulation

    s2l = shipped[0]
    neutral = emotion_vector("neutral")
    measured = held_out_articulation(lambda audio, identity: s2l.predict(audio_windows(audio), identity, neutral).numpy())
    for name, m in measured.items():
        assert m["bilabials"] >= 15
        assert m["bilabial"] < 0.35 * m["vowels"], (name, m)
        assert m["rounded"] < m["spread"] - 0.08, (name, m)
