"""SadTalker's released renderer files (space/models/facevid2vid/sadtalker.py), made here in exactly their
layouts with narrow random-init networks: SadTalker_V0.0.2_{256,512}.safetensors (one flat file, the renderer
under generator. / kp_extractor. / he_estimator., SadTalker's other stages beside them) and
facevid2vid_00189-model.pth.tar (the public training dict)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from space.errors import MissingWeightsError
from space.models.facevid2vid import FaceVid2Vid, load_facevid2vid
from space.models.facevid2vid.sadtalker import OLD_CHECKPOINT, SAFETENSORS_PREFIXES, safetensors_name
from tests.support.tiny_facevid2vid import renderer_config, tiny_config

# SadTalker's own stages share the file (their key prefixes in the release); the renderer must ignore them
OTHER_STAGES = {"audio2pose.netG.fc.weight": (8, 4), "audio2exp.netG.layer.bias": (4,),
                "face_3drecon.net_recon.fc.weight": (3, 5), "mapping.fc.weight": (6, 2)}


def write_safetensors(model: FaceVid2Vid, path, he_estimator: bool = True) -> None:
    """A SadTalker safetensors release of `model`'s networks (without the estimator, as some exports are)."""
    tensors = {}
    for name, prefix in SAFETENSORS_PREFIXES.items():
        if name == "he_estimator" and not he_estimator:
            continue
        tensors.update({prefix + k: v.detach().clone().contiguous() for k, v in getattr(model, name).state_dict().items()})
    tensors.update({k: torch.randn(shape) for k, shape in OTHER_STAGES.items()})
    save_file(tensors, str(path))


def write_old_checkpoint(model: FaceVid2Vid, path) -> None:
    """facevid2vid_00189-model.pth.tar: the public training dict, discriminator and optimizers included."""
    torch.save({**model.checkpoint_dict(), "discriminator": {"down.0.weight": torch.randn(4, 3, 4, 4)},
                "optimizer_generator": {"state": {}, "param_groups": [{"lr": 2e-4}]},
                "optimizer_kp_detector": {"state": {}, "param_groups": []},
                "optimizer_he_estimator": {"state": {}, "param_groups": []},
                "optimizer_discriminator": {"state": {}, "param_groups": []}, "epoch": 189}, str(path))


def tiny(size: int = 256, seed: int = 0) -> FaceVid2Vid:
    torch.manual_seed(seed)
    return FaceVid2Vid(tiny_config(size)).eval()


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_safetensors_release_loads_strictly_and_renders_as_its_source(tmp_path):
    source = tiny(256)
    path = tmp_path / safetensors_name(256)
    write_safetensors(source, path)
    model = FaceVid2Vid.from_checkpoint(str(path), tiny_config(256))
    for name in ("generator", "kp_detector", "he_estimator"):
        assert_same_weights(getattr(model, name), getattr(source, name))
    image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = model.encode(image), source.encode(image)
        params = a.params + torch.tensor([[5.0, -3.0, 2.0] + [0.0] * (a.params.shape[1] - 3)])
        frame_a = model.render(a, model.keypoints(a.kp_canonical, params))
        frame_b = source.render(b, source.keypoints(b.kp_canonical, params))
    torch.testing.assert_close(frame_a, frame_b)


def test_512_release_feeds_the_keypoint_detector_the_full_image(tmp_path):
    """SadTalker's 512 detector was trained on 512 images; the head-pose estimator stays at 256."""
    source = tiny(512)
    path = tmp_path / safetensors_name(512)
    write_safetensors(source, path)
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps(tiny_config(512).to_dict()))
    model = load_facevid2vid(str(path), str(config_file), size=512)
    assert model.config.size == 512 and model.config.keypoint_input_size == 512
    assert model.config.estimator_size == 256
    seen = {}
    def recorder(name):
        def hook(module, args, out):
            seen[name] = args[0].shape
        return hook

    model.kp_detector.register_forward_hook(recorder("kp"))
    model.he_estimator.register_forward_hook(recorder("he"))
    with torch.no_grad():
        model.encode(torch.rand(1, 3, 512, 512))
    assert seen["kp"][-1] == 512 and seen["he"][-1] == 256
    # the public format keeps the public behaviour: both networks see 256
    public = tmp_path / "facevid2vid.pth.tar"
    source.save_checkpoint(str(public))
    assert load_facevid2vid(str(public), str(config_file), size=512).config.keypoint_input_size == 256


def test_release_without_estimator_takes_it_from_the_older_checkpoint(tmp_path):
    renderer, older = tiny(256, seed=0), tiny(256, seed=1)
    write_safetensors(renderer, tmp_path / safetensors_name(256), he_estimator=False)
    write_old_checkpoint(older, tmp_path / OLD_CHECKPOINT)
    model = FaceVid2Vid.from_checkpoint(str(tmp_path / safetensors_name(256)), tiny_config(256))
    assert_same_weights(model.generator, renderer.generator)
    assert_same_weights(model.kp_detector, renderer.kp_detector)
    assert_same_weights(model.he_estimator, older.he_estimator)


def test_release_without_estimator_alone_says_what_to_add(tmp_path):
    path = tmp_path / safetensors_name(256)
    write_safetensors(tiny(256), path, he_estimator=False)
    with pytest.raises(MissingWeightsError) as caught:
        FaceVid2Vid.from_checkpoint(str(path), tiny_config(256))
    message = str(caught.value)
    assert str(path) in message and "he_estimator" in message and OLD_CHECKPOINT in message


def test_older_checkpoint_loads_with_its_training_entries(tmp_path):
    source = tiny(256)
    write_old_checkpoint(source, tmp_path / OLD_CHECKPOINT)
    model = FaceVid2Vid.from_checkpoint(str(tmp_path / OLD_CHECKPOINT), tiny_config(256))
    for name in ("generator", "kp_detector", "he_estimator"):
        assert_same_weights(getattr(model, name), getattr(source, name))


def test_a_file_without_the_renderer_names_what_it_holds(tmp_path):
    path = tmp_path / safetensors_name(256)
    save_file({k: torch.randn(shape) for k, shape in OTHER_STAGES.items()}, str(path))
    with pytest.raises(MissingWeightsError, match="generator.*kp_extractor.*audio2exp"):
        FaceVid2Vid.from_checkpoint(str(path), tiny_config(256))


def test_a_wrong_shape_and_a_missing_key_are_named(tmp_path):
    path = tmp_path / safetensors_name(256)
    write_safetensors(tiny(256), path)
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    first = next(k for k in tensors if k.startswith("kp_extractor.") and k.endswith("weight"))
    tensors[first] = torch.randn(7, 1)
    save_file(tensors, str(path))
    with pytest.raises(MissingWeightsError, match=first.split(".", 1)[1].replace(".", r"\.")):
        FaceVid2Vid.from_checkpoint(str(path), tiny_config(256))
    del tensors[first]
    save_file(tensors, str(path))
    with pytest.raises(MissingWeightsError, match="missing"):
        FaceVid2Vid.from_checkpoint(str(path), tiny_config(256))
    # the release's real widths are vox-256's: narrow weights into the default config fail on shapes
    write_safetensors(tiny(256), path)
    with pytest.raises(MissingWeightsError):
        FaceVid2Vid.from_checkpoint(str(path))


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_a_corrupt_or_empty_file_is_a_weights_error(tmp_path, content):
    path = tmp_path / safetensors_name(512)
    path.write_bytes(content)
    with pytest.raises(MissingWeightsError, match=safetensors_name(512)):
        FaceVid2Vid.from_checkpoint(str(path), tiny_config(512))


def test_a_missing_file_is_a_weights_error(tmp_path):
    with pytest.raises(MissingWeightsError, match=safetensors_name(256)):
        FaceVid2Vid.from_checkpoint(str(tmp_path / safetensors_name(256)), tiny_config(256))


# -- the checkpoints folder of `space animate --renderer facevid2vid` ------------------------------------------


def sadtalker_folder(folder, estimator: bool) -> str:
    """What a SadTalker user has (plus our l2l.pt and, for these narrow widths, facevid2vid.json)."""
    from space.models.checkpoint import save_checkpoint
    from space.models.l2l import L2LConfig, Landmarks2Latents

    torch.manual_seed(0)
    config = renderer_config()
    model = FaceVid2Vid(config)
    write_safetensors(model, folder / safetensors_name(256), he_estimator=estimator)
    write_safetensors(model, folder / safetensors_name(512), he_estimator=estimator)
    write_old_checkpoint(model, folder / OLD_CHECKPOINT)
    (folder / "facevid2vid.json").write_text(json.dumps(config.to_dict()))
    save_checkpoint(str(folder / "l2l.pt"), Landmarks2Latents(L2LConfig()), "l2l", {"note": "random init, for tests"})
    return str(folder)


def test_model_files_pick_the_release_of_the_size_and_its_estimator(tmp_path):
    from space.animate.stages import model_files

    folder = sadtalker_folder(tmp_path, estimator=False)
    files = model_files(folder, "facevid2vid", 512)
    assert files["facevid2vid"].endswith(safetensors_name(512))
    assert files["facevid2vid_he_estimator"].endswith(OLD_CHECKPOINT)  # hashed into the render job's fingerprint
    assert model_files(folder, "facevid2vid", 256)["facevid2vid"].endswith(safetensors_name(256))
    (tmp_path / safetensors_name(256)).unlink()
    assert model_files(folder, "facevid2vid", 256)["facevid2vid"].endswith(safetensors_name(512))
    for name in (safetensors_name(512), "facevid2vid.json"):
        (tmp_path / name).unlink()
    assert model_files(str(tmp_path), "facevid2vid", 256)["facevid2vid"].endswith(OLD_CHECKPOINT)
    (tmp_path / OLD_CHECKPOINT).unlink()
    with pytest.raises(MissingWeightsError, match="SadTalker"):
        model_files(str(tmp_path), "facevid2vid", 256)


def test_animate_renders_from_a_sadtalker_folder(tmp_path, photo_path):
    from space.animate import AnimateOptions, Animator
    from space.io.audio import write_wav
    from space.io.probe import probe
    from space.synth.speech import synthesize_speech

    (tmp_path / "ckpt").mkdir()
    folder = sadtalker_folder(tmp_path / "ckpt", estimator=False)
    speech = tmp_path / "speech.wav"
    write_wav(speech, synthesize_speech(1.0, seed=1).audio)
    options = AnimateOptions(renderer="facevid2vid", checkpoints=folder, size=256, pose="static", blink_rate=0)
    result = Animator(options).run(photo_path, str(speech), str(tmp_path / "out.mp4"), progress=False)
    info = probe(str(tmp_path / "out.mp4"))
    assert info.video.frame_count == result.frames and (info.video.width, info.video.height) == (256, 256)
    assert result.models["facevid2vid"]["checkpoint"].endswith(safetensors_name(256))
    assert result.models["facevid2vid_he_estimator"]["checkpoint"].endswith(OLD_CHECKPOINT)
