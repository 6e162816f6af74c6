"""The phonetic corpus: synthesised speech whose phone timings are known exactly, with the mouth motion that
goes with it. What the shipped Speech2Landmarks is trained on.

    plan (seeded):  engine + voice + speaking rate / pitch, a sentence in the voice's language (space.synth.texts),
                    an emotion and intensity, a recording condition (space.synth.augment), a photo identity
    synthesise:     espeak-ng (20 languages, voice variants), Festival (kal diphone, slt HTS), Flite (kal, awb,
                    rms, slt), space.synth.tts -> 16 kHz audio + phones (start, end, symbol)
    articulate:     phones -> (T, 4) aperture / jaw / width / tuck per 25 fps frame (space.synth.articulation)
    record:         speed (phone times rescaled with it), room, noise, band, level
    landmarks:      identity with the lips at rest + articulation + emotion displacement -> (T, 68, 3) normalized

Identities: the face the model sees as "the photo" is drawn from two bases (the project's mean face and the
astronaut's face with the lips brought to rest), and half of the time it is shown with the mouth part-open (a
photo taken mid-word or smiling), while the targets always start from the lips at rest: the model learns to
close an open photo's lips for /m/ /b/ /p/ and in silence.

`build_corpus(config)` is reproducible from the config: the same seed gives the same plans, sentences, voices
and phone sequences, and Festival's and Flite's audio byte for byte; espeak-ng's synthesiser adds a little
randomness of its own (its audio and phone times differ by a few milliseconds between calls, even in one
process), so its clips match in content, not in bytes. `python -m space.train.defaults` builds it (one
command, recording the config's digest in the checkpoints) and trains on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..face.expression import EMOTIONS, mix_offsets
from .articulation import articulation_offsets, close_crossed_lips, frame_articulation, vowel_emphasis
from .augment import Recording, apply_recording, random_recording
from .texts import ESPEAK_LANGUAGES, sentence
from .tts import FESTIVAL_VOICES, FLITE_VOICES, Espeak, Festival, Flite, TTSError, Utterance

# 1: first version; 2: wider openings (articulation.MAX_GAP 0.24) and per-vowel emphasis
PHONETIC_VERSION = 2
ESPEAK_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5",
                   "+klatt", "+klatt2", "+klatt3", "+klatt4")
FPS = 25.0


@dataclass(frozen=True)
class PhoneticCorpusConfig:
    utterances: int = 3000
    seed: int = 0
    # shares of the engines; Festival and Flite speak US English only, espeak-ng every language in ESPEAK_LANGUAGES
    espeak_share: float = 0.4
    festival_share: float = 0.3
    english_share: float = 0.5  # of the espeak-ng utterances
    augment: bool = True
    open_identity_share: float = 0.5
    emotions: tuple[str, ...] = EMOTIONS
    neutral_share: float = 0.4  # of the clips (the rest: one other emotion at intensity 0.3-1)

    def digest(self) -> str:
        payload = json.dumps({"version": PHONETIC_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class UtterancePlan:
    index: int
    engine: str
    voice: str
    text: str
    settings: dict
    recording: Recording | None
    emotion: str
    intensity: float
    identity: dict  # base, open_share, params, warp seed
    seed: int


@dataclass
class PhoneticClip:
    clip_id: str
    audio: np.ndarray  # (S,) float32 16 kHz, recorded
    phones: list  # (start, end, symbol) after the speed change
    articulation: np.ndarray  # (T, 4)
    identity: np.ndarray  # (68, 3) what the model is shown as the photo
    normalized: np.ndarray  # (T, 68, 3) the targets
    plan: UtterancePlan
    info: dict = field(default_factory=dict)


def plan_corpus(config: PhoneticCorpusConfig) -> list[UtterancePlan]:
    """Every utterance's engine, voice, text, settings, emotion and identity, drawn from the config's seed."""
    plans = []
    languages = [v for v in ESPEAK_LANGUAGES if not v.startswith("en")]
    english = [v for v in ESPEAK_LANGUAGES if v.startswith("en")]
    for index in range(config.utterances):
        rng = np.random.default_rng([config.seed, index, PHONETIC_VERSION])
        draw = rng.random()
        if draw < config.espeak_share:
            engine = "espeak-ng"
            base = str(rng.choice(english)) if rng.random() < config.english_share else str(rng.choice(languages))
            voice = base + str(rng.choice(ESPEAK_VARIANTS))
            language = ESPEAK_LANGUAGES[base]
            settings = {"rate": int(rng.integers(130, 200)), "pitch": int(rng.integers(25, 75)),
                        "pitch_range": int(rng.integers(30, 90))}
        elif draw < config.espeak_share + config.festival_share:
            engine, voice, language = "festival", str(rng.choice(FESTIVAL_VOICES)), "en"
            settings = {"stretch": round(float(rng.uniform(0.85, 1.25)), 3)}
        else:
            engine, voice, language = "flite", str(rng.choice(FLITE_VOICES)), "en"
            settings = {"stretch": round(float(rng.uniform(0.85, 1.25)), 3)}
            if rng.random() < 0.5:
                settings["pitch"] = round(float(rng.uniform(90, 220)), 1)
        text = sentence(language, rng)
        recording = random_recording(rng) if config.augment else None
        if rng.random() < config.neutral_share:
            emotion, intensity = "neutral", 0.0
        else:
            emotion = str(rng.choice([e for e in config.emotions if e != "neutral"]))
            intensity = round(float(rng.uniform(0.3, 1.0)), 3)
        identity = {"base": str(rng.choice(["mean_face", "astronaut"])),
                    "open": bool(rng.random() < config.open_identity_share),
                    "params": [float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.1, 0.7)),
                               float(rng.uniform(-0.5, 0.8)), 0.0]}
        plans.append(UtterancePlan(index, engine, voice, text, settings, recording, emotion, intensity, identity,
                                   int(rng.integers(2**31))))
    return plans


def closed_lips(normalized: np.ndarray) -> np.ndarray:
    """A face's landmarks with the inner lips brought together (the lower lip and the jaw rise to meet the upper
    lip): the rest from which articulation starts."""
    out = np.array(normalized, np.float64, copy=True)
    gap = float(np.mean(out[[67, 66, 65], 1] - out[[61, 62, 63], 1]))
    if gap <= 0:
        return out
    out[[65, 66, 67], 1] -= gap
    out[[55, 56, 57, 58, 59], 1] -= gap
    out[[48, 54, 60, 64], 1] -= 0.3 * gap
    for index, weight in {5: 0.3, 6: 0.5, 7: 0.6, 8: 0.6, 9: 0.6, 10: 0.5, 11: 0.3}.items():
        out[index, 1] -= weight * gap
    return out


_BASES: dict[str, np.ndarray] = {}


def identity_base(name: str) -> np.ndarray:
    """(68, 3) rest faces with closed lips: 'mean_face' or 'astronaut' (scikit-image's photo, through dlib)."""
    if name not in _BASES:
        if name == "mean_face":
            from ..face.mean_face import MEAN_FACE

            face = np.array(MEAN_FACE, np.float64)
        elif name == "astronaut":
            from ..train.data import _portrait

            face = np.asarray(_portrait(256).normalized, np.float64)
        else:
            raise ValueError(f"identity base {name!r}: 'mean_face' or 'astronaut'")
        _BASES[name] = closed_lips(face)
    return _BASES[name]


class _Synthesisers:
    """The engines, opened on first use."""

    def __init__(self):
        self._open: dict[str, object] = {}

    def get(self, engine: str):
        if engine not in self._open:
            self._open[engine] = {"espeak-ng": Espeak, "festival": Festival, "flite": Flite}[engine]()
        return self._open[engine]


def synthesize_plans(plans: list[UtterancePlan], engines: _Synthesisers | None = None) -> list[Utterance | TTSError]:
    """The clean utterance of each plan (Festival's grouped per voice and stretch into one process)."""
    engines = engines or _Synthesisers()
    out: list[Utterance | TTSError | None] = [None] * len(plans)
    festival_groups: dict[tuple, list[int]] = {}
    for i, plan in enumerate(plans):
        if plan.engine == "festival":
            festival_groups.setdefault((plan.voice, plan.settings["stretch"]), []).append(i)
            continue
        try:
            if plan.engine == "espeak-ng":
                out[i] = engines.get("espeak-ng").synthesize(plan.text, plan.voice, **plan.settings)
            else:
                out[i] = engines.get("flite").synthesize(plan.text, plan.voice, **plan.settings)
        except TTSError as exc:
            out[i] = exc
    for (voice, stretch), indices in festival_groups.items():
        results = engines.get("festival").synthesize_many([plans[i].text for i in indices], voice, stretch)
        for i, result in zip(indices, results):
            out[i] = result
    return out  # type: ignore[return-value]


def make_clip(plan: UtterancePlan, utterance: Utterance, digest: str) -> PhoneticClip:
    """One clip from a plan and its clean utterance: recorded audio, articulation, identity and targets."""
    rng = np.random.default_rng(plan.seed)
    audio, phones = utterance.audio, utterance.phones
    if plan.recording is not None:
        audio = apply_recording(audio, plan.recording, rng)
        speed = plan.recording.speed
        phones = [(a / speed, b / speed, s) for a, b, s in phones]
    from ..io.mp4 import frame_count_for

    frames = frame_count_for(len(audio) / 16000, FPS)
    # prominence from the clean audio: the recording's noise and room must not change how wide a vowel opens
    emphasis = vowel_emphasis(utterance.phones, utterance.audio, utterance.sample_rate)
    articulation = frame_articulation(phones, frames, FPS, emphasis=emphasis)
    rest = identity_base(plan.identity["base"])
    normalized = rest[None] + articulation_offsets(articulation) + mix_offsets({plan.emotion: plan.intensity})[None]
    normalized = close_crossed_lips(normalized)
    identity = rest + mix_offsets({plan.emotion: plan.intensity}) * float(rng.uniform(0.0, 1.0))
    if plan.identity["open"]:
        identity = identity + articulation_offsets(np.asarray(plan.identity["params"]))
    return PhoneticClip(
        clip_id=f"phonetic-{digest}-{plan.index:05d}", audio=audio, phones=phones, articulation=articulation,
        identity=identity, normalized=normalized, plan=plan,
        info={"engine": plan.engine, "voice": plan.voice, "text": plan.text, "language": utterance.language},
    )


def build_corpus(config: PhoneticCorpusConfig = PhoneticCorpusConfig(), progress: bool = False,
                 chunk: int = 64) -> tuple[list[PhoneticClip], list[dict]]:
    """All clips of the corpus, and one error record per utterance a synthesiser failed on (skipped)."""
    from tqdm import tqdm

    plans = plan_corpus(config)
    digest = config.digest()
    engines = _Synthesisers()
    clips, errors = [], []
    bar = tqdm(total=len(plans), desc=f"phonetic corpus {digest}", unit="utt", disable=not progress)
    for lo in range(0, len(plans), chunk):
        part = plans[lo : lo + chunk]
        for plan, result in zip(part, synthesize_plans(part, engines)):
            if isinstance(result, TTSError) or len(result.audio) < 16000 * 0.4:
                reason = result.reason if isinstance(result, TTSError) else "shorter than 0.4 s"
                errors.append({"index": plan.index, "engine": plan.engine, "voice": plan.voice, "reason": reason})
                continue
            clips.append(make_clip(plan, result, digest))
        bar.update(len(part))
    bar.close()
    return clips, errors


REST_POSE = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # the photo's pose: the origin of every delta


@dataclass
class Monologue:
    """Several utterances of one voice in a row, with head motion that follows them (space.synth.head_motion)."""

    clip_id: str
    audio: np.ndarray  # (S,) float32 16 kHz
    phones: list
    accents: np.ndarray  # (K,) seconds
    deltas: np.ndarray  # (T, 6) pose deltas from frame 0 (space.models.pose.POSE_DELTA_FIELDS)
    poses: np.ndarray  # (T, 6) absolute poses: REST_POSE moved by the deltas
    liveliness: float


def build_monologues(clips: list[PhoneticClip], count: int, seed: int, per: tuple[int, int] = (2, 4),
                     pause: tuple[float, float] = (0.15, 0.6)) -> list[Monologue]:
    """`count` monologues of 2-4 utterances of one voice each (pauses between them), with speech-driven head
    motion at a random liveliness (0.7-1.3 x the real videos' average): the pose generator's corpus."""
    from ..face.geometry import compose_pose
    from ..io.mp4 import frame_count_for
    from .head_motion import accent_times, speech_head_motion

    by_voice: dict[tuple[str, str], list[PhoneticClip]] = {}
    for clip in clips:
        by_voice.setdefault((clip.plan.engine, clip.plan.voice), []).append(clip)
    voices = sorted(by_voice)
    out = []
    for k in range(count):
        rng = np.random.default_rng([seed, k, PHONETIC_VERSION])
        pool = by_voice[voices[int(rng.integers(len(voices)))]]
        chosen = [pool[int(i)] for i in rng.integers(0, len(pool), int(rng.integers(per[0], per[1] + 1)))]
        parts, phones, t0 = [], [], 0.0
        for clip in chosen:
            gap = np.zeros(int(rng.uniform(*pause) * 16000), np.float32)
            phones += [(a + t0, b + t0, s) for a, b, s in clip.phones]
            parts += [clip.audio, gap]
            t0 += (len(clip.audio) + len(gap)) / 16000
        audio = np.concatenate(parts)
        frames = frame_count_for(len(audio) / 16000, FPS)
        accents = accent_times(phones, audio)
        liveliness = float(rng.uniform(0.7, 1.3))
        deltas = speech_head_motion(accents, frames, rng, FPS, scale=liveliness)
        out.append(Monologue(f"monologue-{seed}-{k:05d}", audio, phones, accents, deltas,
                             compose_pose(REST_POSE, deltas), liveliness))
    return out
