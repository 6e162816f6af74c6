import json

import numpy as np
import pytest

from space.face.eyes import eye_aspect_ratio
from space.io.audio import load_audio
from space.io.probe import probe
from space.synth.corpus import CorpusConfig, load_truth, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    config = CorpusConfig(clips=3, seed=7, emotions=("neutral", "happy", "surprise"), min_seconds=2.0, max_seconds=2.6)
    return out, config, write_corpus(out, config, progress=False)


def test_clips_are_playable_mp4_with_matching_audio(corpus):
    _, _, paths = corpus
    for path in paths:
        info = probe(str(path)).to_dict()
        assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
        assert info["video"]["fps"] == 25.0 and info["video"]["pix_fmt"] == "yuv420p"
        truth = load_truth(path)
        audio = load_audio(str(path))
        assert abs(len(audio) / 16000 * 25 - info["video"]["frame_count"]) <= 1
        assert info["video"]["frame_count"] == truth["num_frames"]


def test_ground_truth_is_complete_and_consistent(corpus):
    _, _, paths = corpus
    for path in paths:
        truth = load_truth(path)
        t = truth["num_frames"]
        assert truth["landmarks"].shape == (t, 68, 3) and truth["normalized"].shape == (t, 68, 3)
        assert truth["poses"].shape == (t, 6) and truth["mouth_open"].shape == (t,)
        # Eyes are shut at every blink time.
        for when in truth["blink_times"]:
            frame = int(round(when * 25))
            assert eye_aspect_ratio(truth["normalized"][frame]).max() < 0.05
        # The mouth opens with the speech.
        gap = truth["normalized"][:, 66, 1] - truth["normalized"][:, 62, 1]
        assert np.corrcoef(gap, truth["mouth_open"])[0, 1] > 0.95


def test_emotions_change_the_expression_in_a_known_way(corpus):
    _, _, paths = corpus
    truths = {load_truth(p)["emotion"]["label"]: load_truth(p) for p in paths}
    width = lambda tr: np.median(tr["normalized"][:, 54, 0] - tr["normalized"][:, 48, 0])  # noqa: E731
    brow = lambda tr: np.median(tr["normalized"][:, 17:27, 1].mean(1))  # noqa: E731
    assert width(truths["happy"]) > width(truths["neutral"]) + 0.03
    assert brow(truths["surprise"]) < brow(truths["neutral"]) - 0.03


def test_rerun_adds_nothing_and_keeps_files(corpus):
    out, config, paths = corpus
    stamps = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    again = write_corpus(out, config, progress=False)
    assert again == paths
    assert {p: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "corpus.json"} == {
        p: s for p, s in stamps.items() if p.name != "corpus.json"
    }
    index = json.loads((out / "corpus.json").read_text())
    assert index["clips"] == [p.name for p in paths]


def test_a_changed_setting_makes_new_clips(corpus, tmp_path):
    _, config, paths = corpus
    other = CorpusConfig(**{**config.__dict__, "seed": 8, "clips": 1})
    assert other.digest() != config.digest()
    assert config.digest() in paths[0].name
