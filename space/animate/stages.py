"""The learned stages an animation needs, loaded once from a checkpoints folder/URI or the shipped defaults.

    s2l.pt, pose.pt             our format (space.models.checkpoint); defaults ship inside the package
    (the phone recogniser)      CMU Sphinx's US-English model, inside the pocketsphinx wheel (space.audio.phones)
    l2l.pt, facevid2vid.pth.tar  only for the facevid2vid renderer: L2L maps landmarks into the keypoint space
                                 of one face-vid2vid checkpoint, so both come from the user. Instead of
                                 facevid2vid.pth.tar the folder may hold SadTalker's release as it downloads
                                 (SadTalker_V0.0.2_256/512.safetensors, facevid2vid_00189-model.pth.tar)
    l2l.pt, LivePortrait release  only for the liveportrait renderer: the folder holds the release as it
                                 downloads (base_models/*.pth, retargeting_models/*.pth; directly or under
                                 liveportrait/) and an L2L trained against its keypoints (params=70)
With --driving zero-shot a keypoint renderer needs no l2l.pt.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..errors import MissingWeightsError, SpaceError
from ..models.checkpoint import load_checkpoint, resolve_checkpoint
from ..models.emotion import emotion_vector
from .windows import windowed

FACEVID2VID_FILE = "facevid2vid.pth.tar"
FACEVID2VID_CONFIG = "facevid2vid.json"  # optional: FaceVid2VidConfig.to_dict() for a non-vox-256 checkpoint
log = logging.getLogger(__name__)


def stage_file(stage: str, checkpoints: str | None, default: bool = True) -> str:
    """The checkpoint file a stage loads: `<checkpoints>/<stage>.pt`, else (when the stage has one) the shipped
    default."""
    if checkpoints is None and not default:
        raise MissingWeightsError(
            f"{stage}.pt", f"the {stage} stage has no shipped default; pass --checkpoints with a folder holding "
            f"{stage}.pt (L2L maps into one face-vid2vid checkpoint's keypoints: train it against yours; or drive "
            f"the renderer without one: --driving zero-shot)",
        )
    try:
        return str(resolve_checkpoint(stage, checkpoints))
    except MissingWeightsError as exc:
        if checkpoints is None:
            raise
        if not default:
            raise type(exc)(exc.source, f"{exc.reason}; the {stage} stage has no shipped default (L2L is "
                                      f"trained against your face-vid2vid checkpoint; without one: --driving "
                                      f"zero-shot)") from exc
        # a folder made for the facevid2vid renderer may hold only l2l + face-vid2vid: the shipped s2l / pose
        # are the right ones then; the result's `models` says which file was used
        uri = str(resolve_checkpoint(stage, None))
        log.info("no %s.pt in %s: using the shipped default %s", stage, checkpoints, uri)
        return uri


def _exists(uri: str) -> bool:
    from ..io.uri import file_size

    try:
        file_size(uri)
        return True
    except SpaceError:
        return False


def facevid2vid_files(checkpoints: str | None, size: int) -> dict[str, str]:
    """The face-vid2vid weights in a checkpoints folder: {"facevid2vid": file} and, when that is one of
    SadTalker's safetensors with its older checkpoint beside it, {"facevid2vid_he_estimator": that file} (where
    a safetensors export without a head-pose estimator gets one). Looked for in this order: our/the public
    name, SadTalker's release for this size, for the other size, SadTalker's older checkpoint."""
    from ..models.facevid2vid.sadtalker import OLD_CHECKPOINT, safetensors_name

    names = [FACEVID2VID_FILE, safetensors_name(size), safetensors_name(768 - size), OLD_CHECKPOINT]
    if checkpoints is None:
        raise MissingWeightsError(FACEVID2VID_FILE, "the facevid2vid renderer needs --checkpoints with a folder "
                                  f"holding one of {', '.join(names)} and l2l.pt; or use --renderer warp")
    base = checkpoints.rstrip("/") + "/"
    found = next((base + name for name in names if _exists(base + name)), None)
    if found is None:
        raise MissingWeightsError(base + FACEVID2VID_FILE, f"no face-vid2vid weights in {checkpoints}: expected one "
                                  f"of {', '.join(names)} (the public format or SadTalker's releases)")
    files = {"facevid2vid": found}
    if found.endswith(".safetensors") and _exists(base + OLD_CHECKPOINT):
        files["facevid2vid_he_estimator"] = base + OLD_CHECKPOINT
    return files


def liveportrait_files(checkpoints: str | None) -> dict[str, str]:
    """{"liveportrait/<network>": file} of the LivePortrait release in a checkpoints folder (all five must be
    there; the loader names a missing one)."""
    from ..models.liveportrait import release_files

    if checkpoints is None:
        raise MissingWeightsError("liveportrait", "the liveportrait renderer needs --checkpoints with a folder "
                                  "holding LivePortrait's release (base_models/, retargeting_models/) and l2l.pt "
                                  "(or --driving zero-shot); or use --renderer warp")
    return {f"liveportrait/{name}": uri for name, uri in release_files(checkpoints).items()}


def renderer_files(checkpoints: str | None, renderer: str, size: int) -> dict[str, str]:
    """The weights files of a keypoint renderer (none for the warp renderer)."""
    if renderer == "facevid2vid":
        return facevid2vid_files(checkpoints, size)
    if renderer == "liveportrait":
        return liveportrait_files(checkpoints)
    return {}


def model_files(checkpoints: str | None, renderer: str, size: int = 512, driving: str = "l2l") -> dict[str, str]:
    """stage -> the checkpoint file an animation with this renderer loads (what `Stages` will load)."""
    from .options import KEYPOINT_RENDERERS

    files = {"s2l": stage_file("s2l", checkpoints), "pose": stage_file("pose", checkpoints)}
    files.update(renderer_files(checkpoints, renderer, size))
    if renderer in KEYPOINT_RENDERERS and driving == "l2l":
        files["l2l"] = stage_file("l2l", checkpoints, default=False)
    return files


def file_sha256(uri: str, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a local or remote file (streamed), to name the exact weights a video was made with."""
    import hashlib

    from ..io.uri import open_uri

    digest = hashlib.sha256()
    with open_uri(uri, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


#: video frames the face moves ahead of its sound. S2L learns the mouth of the sound it hears (the corpus's
#: targets sit on the synthesisers' phone times); real faces lead it: the lips close before a /b/ is heard and
#: open before the vowel, and a video frame shows the instant its 40 ms of audio begins. On the real videos of
#: benchmarks/eval_reconstruction.py S2L's mouth opening (no lead) matched the real one best 0 to 3 frames late
#: (two of ten were early). A lead of 1 puts nine of ten within the benchmark's +-2 frames (mean r 0.39); a lead
#: of 2 pushed two early ones out (mean r 0.37), a lead of 3 more (0.33).
MOUTH_LEAD_FRAMES = 1


def advance(frames: np.ndarray, lead: int) -> np.ndarray:
    """(T, ...) -> (T, ...) shifted `lead` frames earlier; the last frame is held for the end (lead 0: as is)."""
    if lead <= 0 or len(frames) == 0:
        return frames
    lead = min(lead, len(frames) - 1)
    return np.concatenate([frames[lead:], np.repeat(frames[-1:], lead, 0)], 0)


class Stages:
    def __init__(self, checkpoints: str | None, renderer: str, device: str = "cpu", size: int = 256,
                 driving: str = "l2l"):
        from ..audio.features import AudioFeatures

        self.device = torch.device(device)
        self.paths: dict[str, str] = {}
        self.meta: dict[str, dict] = {}
        self.s2l = self._load("s2l", checkpoints)
        self.pose = self._load("pose", checkpoints)
        self.l2l = self.keypoint_model = None  # a keypoint renderer's networks (face-vid2vid or LivePortrait)
        if renderer == "facevid2vid":
            self.keypoint_model = self._load_facevid2vid(checkpoints, size)
        elif renderer == "liveportrait":
            self.keypoint_model = self._load_liveportrait(checkpoints)
        if self.keypoint_model is not None and driving == "l2l":  # zero-shot driving needs none
            self.l2l = self._load("l2l", checkpoints, default=False)
            check_l2l_fits(self.l2l, self.keypoint_model, renderer, self.paths["l2l"])
        self.audio = AudioFeatures(self.s2l.config.audio_features()).to(self.device)
        self._phones = None  # the phone recogniser, loaded on first use (a mouth that is not S2L's alone)

    def _load(self, stage: str, checkpoints: str | None, default: bool = True):
        uri = stage_file(stage, checkpoints, default)
        model, meta = load_checkpoint(uri, stage=stage, map_location=self.device)
        self.paths[stage], self.meta[stage] = str(uri), meta.get("training", {})
        return model.to(self.device).eval()

    def _load_facevid2vid(self, checkpoints: str | None, size: int):
        from ..models.facevid2vid import load_facevid2vid

        files = facevid2vid_files(checkpoints, size)
        config_uri = checkpoints.rstrip("/") + "/" + FACEVID2VID_CONFIG
        if not _exists(config_uri):
            config_uri = None  # no config file: the public vox-256 networks
        self.paths.update(files)
        return load_facevid2vid(files["facevid2vid"], config_uri, size=size, device=self.device)

    def _load_liveportrait(self, checkpoints: str | None):
        from ..models.liveportrait import load_liveportrait

        self.paths.update(liveportrait_files(checkpoints))
        return load_liveportrait(checkpoints, device=self.device)

    # -- the operations the pipeline calls ---------------------------------------------------------------------

    @torch.no_grad()
    def features(self, audio: np.ndarray) -> torch.Tensor:
        """16 kHz speech (S,) -> (1, T, W, F) audio windows on the device."""
        return self.audio(torch.as_tensor(audio, dtype=torch.float32, device=self.device)[None])

    def emotion(self, spec) -> np.ndarray:
        return emotion_vector(spec)

    @torch.no_grad()
    def speech_to_landmarks(self, features: torch.Tensor, identity: np.ndarray, emotion: np.ndarray,
                            lead: int = MOUTH_LEAD_FRAMES) -> np.ndarray:
        """(1, T, W, F) audio windows -> (T, 68, 3) normalized landmarks, `lead` frames ahead of the sound."""
        ident = torch.as_tensor(identity, dtype=torch.float32, device=self.device)[None]
        emo = torch.as_tensor(emotion, dtype=torch.float32, device=self.device)[None]
        landmarks = windowed(lambda a, b: self.s2l.predict(features[:, a:b], ident, emo)[0], features.shape[1])
        return advance(landmarks.double().cpu().numpy(), lead)  # (T, 68, 3)

    def speaking_landmarks(self, features: torch.Tensor, audio: np.ndarray, identity: np.ndarray,
                           emotion: np.ndarray, mouth: str = "blend", timings: dict | None = None,
                           phones: list | None = None) -> np.ndarray:
        """The face of the speech: (T, 68, 3) normalized landmarks from S2L, the recognised phones or both
        blended (`mouth`, AnimateOptions.mouth; space.animate.mouth). `phones`: the audio's phones when they
        were recognised already (the render job does it on a CPU worker). `timings` gets seconds per step."""
        from .mouth import blend, keep_lip_thickness, phonetic_landmarks

        timings = {} if timings is None else timings
        tick = time.perf_counter()
        landmarks = self.speech_to_landmarks(features, identity, emotion) if mouth != "phones" else None
        timings["speech2landmarks"] = time.perf_counter() - tick
        if mouth == "s2l":
            return landmarks
        tick = time.perf_counter()
        phones = self.phones(audio) if phones is None else phones
        phonetic = phonetic_landmarks(phones, audio, identity, emotion, features.shape[1])
        timings["phones"] = time.perf_counter() - tick
        return phonetic if landmarks is None else keep_lip_thickness(blend(landmarks, phonetic), identity)

    def phones(self, audio: np.ndarray) -> list[tuple[float, float, str]]:
        """16 kHz speech (S,) -> timed IPA phones [(start s, end s, symbol)] (space.audio.phones)."""
        from ..audio.phones import PhoneRecognizer

        if self._phones is None:
            self._phones = PhoneRecognizer()
        return self._phones.recognize(audio).phones

    @torch.no_grad()
    def sample_pose(self, features: torch.Tensor, seed: int, temperature: float) -> np.ndarray:
        return np.asarray(self.pose.sample(features, seed=seed, temperature=temperature), dtype=np.float64)

    def describe(self) -> dict[str, dict]:
        return {stage: {"checkpoint": path, **self.meta.get(stage, {})} for stage, path in self.paths.items()}


def check_l2l_fits(l2l, model, renderer: str, uri: str) -> None:
    """An L2L drives the keypoint space it was trained against: same keypoint count, same head-param length."""
    num_kp, params = model.layout.num_kp, model.layout.size
    if (l2l.config.keypoints, l2l.config.params) != (num_kp, params):
        raise MissingWeightsError(uri, f"this L2L was trained for {l2l.config.keypoints} keypoints and "
                                       f"{l2l.config.params} head params, the {renderer} renderer has {num_kp} and "
                                       f"{params}: train L2L against this renderer's keypoints (jobs/train.py "
                                       f"--stage l2l), or drive it with --driving zero-shot")


def load_stages(checkpoints: str | None, renderer: str, device: str = "cpu", size: int = 256,
                driving: str = "l2l") -> Stages:
    return Stages(checkpoints, renderer, device, size, driving)


def make_renderer(name: str, stages: Stages, device: str = "cpu", driving: str = "l2l"):
    if name == "warp":
        from ..render.warp import WarpRenderer

        return WarpRenderer()
    from ..render.facevid2vid import FaceVid2VidRenderer
    from ..render.liveportrait import LivePortraitRenderer

    cls = LivePortraitRenderer if name == "liveportrait" else FaceVid2VidRenderer
    return cls(stages.keypoint_model, stages.l2l, device=device, driving=driving)
