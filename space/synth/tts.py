"""Speech synthesisers that report when each phone is spoken: the acoustic half of the phonetic corpus.

Three engines from Debian's archive (scripts/setup.sh installs them), each giving 16 kHz mono float32 audio and
its phones as (start s, end s, symbol):

    espeak-ng  libespeak-ng through ctypes: ~100 languages and many voice variants; every phone arrives as a
               synthesis event with its audio position (IPA symbols, espeakINITIALIZE_PHONEME_IPA)
    festival   Festival 2.5 in batch mode: the diphone voice kal_diphone (concatenated recordings of a US male)
               and the HTS voice cmu_us_slt_arctic_hts (a statistical model of a real US female speaker, ARCTIC);
               segment end times come from the utterance's Segment relation (utt.save.segs)
    flite      CMU Flite: kal, kal16, awb, rms, slt (diphone and clustergen voices); `-psdur` prints each
               segment with its end time

Each raises TTSUnavailableError (naming the program and how to install it) when its program or library is
missing, so tests can skip and the corpus builder can say exactly what is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SpaceError

SAMPLE_RATE = 16000
INSTALL_HINT = "install Debian's espeak-ng, festival, festvox-kallpc16k, festvox-us-slt-hts and flite (scripts/setup.sh)"


class TTSUnavailableError(SpaceError):
    """A speech synthesiser the corpus needs is not installed."""


class TTSError(SpaceError):
    """A synthesiser failed on one text."""


@dataclass
class Utterance:
    audio: np.ndarray  # (S,) float32 at SAMPLE_RATE
    phones: list[tuple[float, float, str]]  # (start s, end s, IPA symbol); '' is a pause
    text: str
    engine: str
    voice: str
    language: str
    sample_rate: int = SAMPLE_RATE
    settings: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono audio at `rate` -> float32 at 16 kHz (polyphase resampling)."""
    from math import gcd

    from scipy.signal import resample_poly

    x = np.asarray(audio, np.float64)
    if rate != SAMPLE_RATE:
        g = gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g)
    return x.astype(np.float32)


def _ends_to_phones(ends: list[tuple[float, str]], duration: float) -> list[tuple[float, float, str]]:
    """[(end s, ARPAbet symbol)] in order -> [(start, end, IPA symbol)], clipped to the audio."""
    from .phones import from_arpabet

    phones, start = [], 0.0
    for end, symbol in ends:
        end = min(float(end), duration)
        if end > start:
            phones.append((start, end, from_arpabet(symbol)))
            start = end
    if start < duration:
        phones.append((start, duration, ""))
    return phones


# ---- espeak-ng -------------------------------------------------------------------------------------------------

class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_END_OF_LIST, _EVENT_PHONEME = 0, 7
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 0x1, 0x2
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_RATE, _PITCH, _RANGE = 1, 3, 4


class Espeak:
    """espeak-ng through its C library, with phone events in IPA. The library keeps global state, so one
    instance per process is shared (`Espeak()` returns it) and calls are serialised."""

    name = "espeak-ng"
    _instance = None
    _lock = threading.Lock()

    def __new__(cls):
        if cls._instance is None:
            self = super().__new__(cls)
            self._open()
            cls._instance = self
        return cls._instance

    def _open(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise TTSUnavailableError("libespeak-ng", f"cannot load the espeak-ng library ({exc}); {INSTALL_HINT}") from None
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA)
        if rate <= 0:
            raise TTSUnavailableError("libespeak-ng", f"espeak_Initialize failed ({rate}): is espeak-ng-data installed? "
                                      f"{INSTALL_HINT}")
        self.rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # kept alive as long as the library may call it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                symbol = bytes(event.id.string).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((int(event.sample), symbol))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50) -> Utterance:
        """`voice`: a language or voice name, optionally with a variant ('en-us+f3'); rate in words per minute;
        pitch and range 0-100."""
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise TTSError(voice, "espeak-ng does not know this voice")
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range)):
                self.lib.espeak_SetParameter(parameter, int(value), 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            buffer = ctypes.create_string_buffer(data)
            status = self.lib.espeak_Synth(buffer, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            if status != 0 or not self._chunks:
                raise TTSError(text[:60], f"espeak-ng synthesis failed (status {status})")
            audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
            events = list(self._events)
        duration = len(audio) / self.rate
        # A phone starts at its event and ends where the next one starts; language switches ('(en)') are not phones.
        starts = [(sample / self.rate, s) for sample, s in events if not (s.startswith("(") and s.endswith(")"))]
        phones = []
        for (start, symbol), (end, _) in zip(starts, starts[1:] + [(duration, "")]):
            if end > start:
                phones.append((start, min(end, duration), symbol))
        if starts and starts[0][0] > 0:
            phones.insert(0, (0.0, starts[0][0], ""))
        language = voice.split("+")[0]
        return Utterance(to_16k(audio, self.rate), phones, text, self.name, voice, language,
                         settings={"rate": rate, "pitch": pitch, "range": pitch_range})


# ---- Festival --------------------------------------------------------------------------------------------------

FESTIVAL_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Festival:
    """Festival in batch mode; many texts per process (its start-up costs ~0.2 s)."""

    name = "festival"

    def __init__(self, program: str = "festival"):
        self.program = shutil.which(program)
        if self.program is None:
            raise TTSUnavailableError(program, f"Festival is not installed; {INSTALL_HINT}")

    def synthesize_many(self, texts: list[str], voice: str = "kal_diphone", stretch: float = 1.0,
                        timeout: float = 600.0) -> list[Utterance | TTSError]:
        """One Utterance per text (or the TTSError of that text). `stretch` > 1 speaks slower."""
        if voice not in FESTIVAL_VOICES:
            raise ValueError(f"festival voice {voice!r}: choose one of {', '.join(FESTIVAL_VOICES)}")
        from ..io.audio import load_audio

        with tempfile.TemporaryDirectory(prefix="space-festival-") as tmp:
            lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {float(stretch):.3f})"]
            for i, text in enumerate(texts):
                wav, segs = Path(tmp, f"{i}.wav"), Path(tmp, f"{i}.segs")
                lines.append(f"(set! utt (utt.synth (Utterance Text {_scheme_string(text)})))")
                lines.append(f'(utt.save.wave utt "{wav}" \'riff)')
                lines.append(f'(utt.save.segs utt "{segs}")')
            script = Path(tmp, "run.scm")
            script.write_text("\n".join(lines) + "\n", encoding="utf-8")
            try:
                subprocess.run([self.program, "--batch", str(script)], check=False, capture_output=True,
                               timeout=timeout)
            except subprocess.TimeoutExpired:
                return [TTSError(t[:60], f"festival timed out after {timeout:.0f} s") for t in texts]
            out: list[Utterance | TTSError] = []
            for i, text in enumerate(texts):
                wav, segs = Path(tmp, f"{i}.wav"), Path(tmp, f"{i}.segs")
                if not (wav.is_file() and segs.is_file()):
                    out.append(TTSError(text[:60], f"festival ({voice}) produced no audio"))
                    continue
                audio = load_audio(str(wav), SAMPLE_RATE, allow_silence=True)
                ends = []
                for line in segs.read_text(errors="replace").splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[0] != "#":
                        ends.append((float(parts[0]), parts[2]))
                phones = _ends_to_phones(ends, len(audio) / SAMPLE_RATE)
                out.append(Utterance(audio, phones, text, self.name, voice, "en-us", settings={"stretch": stretch}))
            return out

    def synthesize(self, text: str, voice: str = "kal_diphone", stretch: float = 1.0) -> Utterance:
        result = self.synthesize_many([text], voice, stretch)[0]
        if isinstance(result, TTSError):
            raise result
        return result


# ---- Flite -----------------------------------------------------------------------------------------------------

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


class Flite:
    name = "flite"

    def __init__(self, program: str = "flite"):
        self.program = shutil.which(program)
        if self.program is None:
            raise TTSUnavailableError(program, f"Flite is not installed; {INSTALL_HINT}")

    def synthesize(self, text: str, voice: str = "slt", stretch: float = 1.0, pitch: float | None = None) -> Utterance:
        """`stretch` > 1 speaks slower; `pitch`: the mean F0 in Hz (the voice's own when None)."""
        from ..io.audio import load_audio

        if voice not in FLITE_VOICES:
            raise ValueError(f"flite voice {voice!r}: choose one of {', '.join(FLITE_VOICES)}")
        with tempfile.TemporaryDirectory(prefix="space-flite-") as tmp:
            wav = os.path.join(tmp, "out.wav")
            command = [self.program, "-voice", voice, "-psdur", "--setf", f"duration_stretch={float(stretch):.3f}"]
            if pitch is not None:
                command += ["--setf", f"int_f0_target_mean={float(pitch):.1f}"]
            command += ["-t", text, "-o", wav]
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            if done.returncode != 0 or not os.path.isfile(wav):
                raise TTSError(text[:60], f"flite ({voice}) failed: {done.stderr.strip()[:200]}")
            audio = load_audio(wav, SAMPLE_RATE, allow_silence=True)
        ends = []
        for token in done.stdout.split():
            symbol, _, end = token.rpartition(":")
            try:
                ends.append((float(end), symbol))
            except ValueError:
                continue
        phones = _ends_to_phones(ends, len(audio) / SAMPLE_RATE)
        settings = {"stretch": stretch, "pitch": pitch}
        return Utterance(audio, phones, text, self.name, voice, "en-us", settings=settings)


def available_engines() -> dict[str, str | None]:
    """engine name -> None when it works here, else the reason it does not."""
    out: dict[str, str | None] = {}
    for cls in (Espeak, Festival, Flite):
        try:
            cls()
            out[cls.name] = None
        except TTSUnavailableError as exc:
            out[cls.name] = str(exc)
    return out
