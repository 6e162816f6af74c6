"""A preprocessed lake of the synthetic corpus for the training tests (and its face-vid2vid checkpoint)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def make_training_lake(folder: str | Path, clips: int = 8, seed: int = 0, keypoints: bool = True):
    """The synthetic corpus processed in-process into folder/lake; with `keypoints`, through a narrow face-vid2vid
    with the public 15 keypoints (random weights: a real keypoint space for L2L to learn, in seconds).
    Returns the Lake."""
    import torch

    from pipelines.lake import Lake
    from pipelines.preprocess import PreprocessRun, PreprocessSettings
    from pipelines.stages.keypoints import KeypointSettings
    from space.models.facevid2vid import FaceVid2Vid
    from space.synth.corpus import CorpusConfig, write_corpus
    from tests.support.tiny_facevid2vid import tiny_config

    folder = Path(folder)
    write_corpus(folder / "corpus", CorpusConfig(clips=clips, seed=seed), progress=False)
    settings = PreprocessSettings()
    if keypoints:
        config = dataclasses.replace(tiny_config(256), num_kp=15)
        torch.manual_seed(seed)
        FaceVid2Vid(config).save_checkpoint(str(folder / "fv2v.pth.tar"))
        (folder / "fv2v.json").write_text(json.dumps(config.to_dict()))
        settings = dataclasses.replace(settings, keypoints=KeypointSettings(
            checkpoint=str(folder / "fv2v.pth.tar"), config=str(folder / "fv2v.json")))
    lake = Lake(str(folder / "lake"))
    PreprocessRun(str(folder / "corpus"), lake, settings, log=lambda _: None).execute()
    return lake
