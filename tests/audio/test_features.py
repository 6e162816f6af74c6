import numpy as np
import pytest
import torch

from space.audio.features import AudioFeatureConfig, AudioFeatures
from space.io.mp4 import frame_count_for


@pytest.mark.parametrize("seconds", [0.04, 1.0, 2.37, 3.02])
def test_one_window_per_video_frame(seconds):
    audio = torch.randn(2, int(seconds * 16000)) * 0.1
    feats = AudioFeatures()(audio)
    cfg = AudioFeatureConfig()
    assert feats.shape == (2, frame_count_for(seconds, 25), 20, 80)
    assert cfg.window == 20 and torch.isfinite(feats).all()


def test_frame_count_matches_the_video_convention():
    for samples in (640, 16000, 16320, 16321, 37920):  # 16320 samples = 25.5 frames: rounds up
        assert AudioFeatures()(torch.zeros(samples)).shape[1] == frame_count_for(samples / 16000, 25)


def test_a_sound_lands_in_its_frame():
    audio = torch.zeros(16000 * 2)
    audio[640 * 20 : 640 * 21] = torch.sin(torch.arange(640) * 2 * np.pi * 440 / 16000)  # video frame 20
    feats = AudioFeatures(AudioFeatureConfig(context=2))(audio)[0]  # (T, 20, 80)
    energy = feats.mean(-1)  # (T, window)
    centre = slice(8, 12)  # the frame's own four mel rows
    loudest = energy[:, centre].mean(-1)
    assert int(loudest.argmax()) == 20
    # Its neighbours see it in their context, at the right offset (4 mel rows per video frame).
    assert int(energy[18].argmax()) // 4 == 4 and int(energy[22].argmax()) // 4 == 0


def test_edges_see_silence():
    feats = AudioFeatures()(torch.randn(16000) * 0.3)[0]
    assert feats[0, :8].mean() < feats[0, 8:].mean() - 3


def test_mfcc_and_batch_consistency():
    audio = torch.randn(3, 16000) * 0.1
    model = AudioFeatures(AudioFeatureConfig(kind="mfcc"))
    batched = model(audio)
    assert batched.shape == (3, 25, 20, 20)
    torch.testing.assert_close(batched[1], model(audio[1])[0])


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown audio feature kind 'wav2vec'"):
        AudioFeatures(AudioFeatureConfig(kind="wav2vec"))
    with pytest.raises(ValueError, match="does not divide"):
        AudioFeatureConfig(hop_ms=15).mels_per_frame
