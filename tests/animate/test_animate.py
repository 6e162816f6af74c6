"""`space animate` end to end: the output file's format, the Python API, the command line and bad input."""

import json

import numpy as np
import pytest

from space.animate import AnimateOptions, animate
from space.animate.pipeline import UnsafeOutputError
from space.cli import main
from space.errors import NoFaceError, SilentAudioError
from space.io.audio import load_audio, write_wav
from space.io.mp4 import frame_count_for
from space.io.probe import probe


def test_output_is_25fps_h264_aac_with_the_speech_muxed(photo_path, speech, tmp_path):
    path, samples, _ = speech
    out = tmp_path / "out.mp4"
    result = animate(photo_path, path, str(out), progress=False, seed=3)
    info = probe(str(out))
    want = frame_count_for(len(samples) / 16000)
    assert info.video.codec == "h264" and info.audio.codec == "aac"
    assert info.video.fps == pytest.approx(25.0, abs=0.01)
    assert abs(info.video.frame_count - want) <= 1 and result.frames == want
    assert (info.video.width, info.video.height) == (512, 512)  # the default size, as SPACE
    # the audio track is the input speech: same length, and the waveforms line up
    muxed = load_audio(str(out))
    assert abs(len(muxed) - len(samples)) < 0.03 * 16000
    n = min(len(muxed), len(samples))
    assert np.corrcoef(muxed[:n], samples[:n])[0, 1] > 0.9
    assert set(result.timings) >= {"portrait", "audio_features", "speech2landmarks", "pose", "render_and_encode"}
    assert result.models["s2l"]["checkpoint"].endswith("s2l.pt")


def test_same_seed_same_video_other_seed_other_motion(photo_path, speech, tmp_path):
    from space.animate import Animator

    animator = Animator(AnimateOptions())
    from space.portrait import astronaut_portrait

    portrait = astronaut_portrait(256)
    a = animator.motion(portrait, speech[1], AnimateOptions(seed=1))
    b = animator.motion(portrait, speech[1], AnimateOptions(seed=1))
    c = animator.motion(portrait, speech[1], AnimateOptions(seed=2))
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert np.abs(a.poses - c.poses).max() > 0.1


def test_size_512(photo_path, speech, tmp_path):
    out = tmp_path / "big.mp4"
    animate(photo_path, speech[0], str(out), progress=False, size=512, pose="static")
    info = probe(str(out))
    assert (info.video.width, info.video.height) == (512, 512)


def test_cli_writes_the_video_and_reports_json(photo_path, speech, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    code = main(["animate", photo_path, speech[0], "-o", str(out), "--emotion", "happy=0.7", "--pose", "static",
                 "--gaze", "10,-5", "--blink-rate", "20", "--seed", "4", "--json", "-q"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(out) and result["pose_source"] == "static"
    assert probe(str(out)).video.frame_count == result["frames"]


@pytest.mark.parametrize("args, message", [
    (["--emotion", "joy=0.5"], "joy"),
    (["--emotion", "happy=1.5"], "happy"),
    (["--keyframes", "1:a,b"], "keyframe"),
    (["--renderer", "facevid2vid"], "facevid2vid"),
])
def test_cli_bad_options_are_one_line_errors(photo_path, speech, tmp_path, capsys, args, message):
    code = main(["animate", photo_path, speech[0], "-o", str(tmp_path / "x.mp4"), "-q", *args])
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


def test_faceless_photo_and_silent_speech_name_the_input(speech, tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    with pytest.raises(NoFaceError, match="wall.png"):
        animate(str(blank), speech[0], str(tmp_path / "a.mp4"), progress=False)
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(16000, np.float32))
    import skimage.data

    photo = tmp_path / "p.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    with pytest.raises(SilentAudioError, match="silent.wav"):
        animate(str(photo), str(silent), str(tmp_path / "b.mp4"), progress=False)
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_output_must_not_overwrite_an_input(photo_path, speech, tmp_path):
    from space.io.mp4 import write_mp4

    talk = tmp_path / "talk.mp4"  # speech inside a video file is a valid audio input
    write_mp4(str(talk), [np.zeros((64, 64, 3), np.uint8)] * 10, speech[1][:6400], fps=25)
    before = talk.read_bytes()
    with pytest.raises(UnsafeOutputError, match="one of the inputs"):
        animate(photo_path, str(talk), str(talk), progress=False)
    assert talk.read_bytes() == before
    with pytest.raises(UnsafeOutputError, match=".mp4"):
        animate(photo_path, speech[0], str(tmp_path / "x.txt"), progress=False)


def test_unknown_python_option_is_named(photo_path, speech, tmp_path):
    with pytest.raises(TypeError, match="blink_speed"):
        animate(photo_path, speech[0], str(tmp_path / "x.mp4"), progress=False, blink_speed=3)


def test_demo_needs_no_inputs(tmp_path):
    out = tmp_path / "demo" / "demo.mp4"
    assert main(["demo", "-o", str(out), "--seconds", "1.5", "--pose", "static", "-q"]) == 0
    assert probe(str(out)).video.frame_count == frame_count_for(1.5)
    assert (tmp_path / "demo" / "demo_photo.png").exists() and (tmp_path / "demo" / "demo_speech.wav").exists()
