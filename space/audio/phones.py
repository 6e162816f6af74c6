"""Speech -> timed phones, with an acoustic model trained on real speech (CMU Sphinx's US-English model, which
ships inside the `pocketsphinx` wheel: no download).

    16 kHz speech (S,)
      -> word decoding: the acoustic model, CMUdict and the US-English trigram LM -> words with times
      -> forced alignment of those words' pronunciations over the same audio -> phones with times (10 ms frames)
      -> ARPAbet -> the IPA symbols of space.synth.phones: [(start s, end s, symbol)], '_' for pauses

S2L has only heard synthesised speech; this path hears real voices, so it knows which sounds a real speaker is
making even where S2L does not (on the real videos of benchmarks/eval_reconstruction.py the mouth drawn from its
phones follows the real mouth better than S2L's own; the two blended beat both, space.animate.mouth).
The same decoder serves any language, but its words and phones are English: other languages get the nearest
English phones (a bilabial is a bilabial, an open vowel open), which is what a lip shape needs.

Alignment of a long utterance can fail (pocketsphinx's aligner gives up when its beam loses the path); the
utterance is then aligned piece by piece between the decoder's pauses, and a piece that still fails spreads
its words' dictionary phones over each word's decoded time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import SpaceError

SAMPLE_RATE = 16000
FRAME_SECONDS = 0.01  # pocketsphinx's frame
_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
PAUSE = ""  # silence, as space.synth.phones spells it


class PhoneModelError(SpaceError):
    """The phone recogniser's model files are missing or pocketsphinx is not installed."""

    kind = "missing_weights"


@dataclass(frozen=True)
class PhoneModel:
    """Where the acoustic model, pronunciation dictionary and language model live (default: the wheel's)."""

    acoustic: str
    dictionary: str
    language_model: str

    @classmethod
    def default(cls, folder: str | None = None) -> "PhoneModel":
        if folder is None:
            try:
                from pocketsphinx import get_model_path
            except ImportError as exc:
                raise PhoneModelError("pocketsphinx", f"not installed ({exc}); pip install pocketsphinx") from exc
            folder = os.path.join(get_model_path(), "en-us")
        return cls(os.path.join(folder, "en-us"), os.path.join(folder, "cmudict-en-us.dict"),
                   os.path.join(folder, "en-us.lm.bin"))

    def check(self) -> None:
        for path in (self.acoustic, self.dictionary, self.language_model):
            if not os.path.exists(path):
                raise PhoneModelError(path, "phone recogniser model file missing (expected CMU Sphinx's en-us model: "
                                            "acoustic model folder, cmudict-en-us.dict, en-us.lm.bin)")


@dataclass(frozen=True)
class Recognition:
    words: list[tuple[float, float, str]]  # (start s, end s, word); fillers and pauses left out
    phones: list[tuple[float, float, str]]  # (start s, end s, IPA symbol or PAUSE)
    method: str  # "aligned", "aligned in pieces" or "dictionary" (how the phone times were found)


DITHER = 1e-3  # std of the noise added before decoding (-60 dBFS)


def phones_to_arrays(phones) -> dict[str, np.ndarray]:
    """Timed phones -> numeric and string arrays (no pickling), for a job that recognises on one worker and
    animates on another."""
    times = np.array([(a, b) for a, b, _ in phones], np.float64).reshape(-1, 2)
    return {"phone_times": times, "phone_symbols": np.array([s for _, _, s in phones], dtype=str)}


def phones_from_arrays(arrays: dict[str, np.ndarray]) -> list[tuple[float, float, str]] | None:
    """The inverse of `phones_to_arrays`, taking its two arrays out of `arrays`; None when they are not there
    (no phones were recognised for this clip)."""
    if "phone_times" not in arrays:
        return None
    times, symbols = arrays.pop("phone_times"), arrays.pop("phone_symbols")
    return [(float(a), float(b), str(s)) for (a, b), s in zip(times, symbols)]


def _pcm16(audio: np.ndarray) -> bytes:
    """float speech -> 16-bit PCM with a fixed, seeded dither: stretches of exact digital silence (synthesised
    speech, gated recordings) give the front end log(0) energies that wreck its mean normalisation, and the
    decoder then hears two words in a sentence. The dither is the same for the same input (reproducible)."""
    audio = np.asarray(audio, np.float64)
    audio = audio + np.random.default_rng(len(audio)).normal(0.0, DITHER, audio.shape)
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def _is_word(token: str) -> bool:
    return not (token.startswith(("<", "[", "+")) or token in ("SIL", "</s>"))


def _ipa(arpabet: str) -> str:
    from ..synth.phones import from_arpabet

    return from_arpabet(arpabet) if arpabet[:1].isalpha() else PAUSE  # 'SIL' -> '' too


class PhoneRecognizer:
    """Checks the model once; `recognize` is safe to call on any speech (silence gives no phones) and gives the
    same phones for the same audio, whatever was recognised before."""

    def __init__(self, model: PhoneModel | None = None):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise PhoneModelError("pocketsphinx", f"not installed ({exc}); pip install pocketsphinx") from exc
        self.model = model or PhoneModel.default()
        self.model.check()
        self._decoder = Decoder
        self._fresh_decoders()  # here, so a broken model fails at construction, not at the first clip

    def _fresh_decoders(self) -> None:
        """New decoders (0.4 s): pocketsphinx carries its cepstral mean and more from one utterance to the next,
        so a reused decoder hears the same audio differently after other audio; fresh ones make each
        recognition depend on its input alone (a re-run renders the same video)."""
        common = dict(hmm=self.model.acoustic, dict=self.model.dictionary, samprate=SAMPLE_RATE, loglevel="FATAL")
        self._words = self._decoder(lm=self.model.language_model, **common)
        self._aligner = self._decoder(lm=None, **common)
        self._used = False

    # -- steps -------------------------------------------------------------------------------------------------

    def decode_words(self, audio: np.ndarray) -> list[tuple[float, float, str]]:
        """All segments of the best word hypothesis, pauses and fillers included: (start s, end s, token)."""
        d = self._words
        d.start_utt()
        d.process_raw(_pcm16(audio), full_utt=True)
        d.end_utt()
        return [(s.start_frame * FRAME_SECONDS, (s.end_frame + 1) * FRAME_SECONDS, s.word) for s in d.seg()]

    def align(self, audio: np.ndarray, words: list[str]) -> list[tuple[float, float, str]]:
        """Force-align `words` over `audio`: ARPAbet phones with times. Raises RuntimeError when it fails."""
        d, pcm = self._aligner, _pcm16(audio)
        d.set_align_text(" ".join(words))
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        d.set_alignment()  # a second pass: phones (and states) inside the aligned words
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        return [(p.start * FRAME_SECONDS, (p.start + p.duration) * FRAME_SECONDS, p.name)
                for word in d.get_alignment() for p in word]

    def dictionary_phones(self, segments) -> list[tuple[float, float, str]]:
        """Each word's dictionary phones spread over its decoded time (vowels twice a consonant's share)."""
        out = []
        for start, end, token in segments:
            pron = self._words.lookup_word(token) if _is_word(token) else None
            phones = pron.split() if pron else []
            if not phones:
                out.append((start, end, "SIL"))
                continue
            weight = np.array([2.0 if p in _VOWELS else 1.0 for p in phones])
            edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weight)]) / weight.sum()
            out += [(float(edges[i]), float(edges[i + 1]), p) for i, p in enumerate(phones)]
        return out

    def align_in_pieces(self, audio: np.ndarray, segments, max_seconds: float = 6.0) -> tuple[list, bool]:
        """Align between the decoder's pauses (pieces of 1.5-6 s); a piece that fails gets dictionary phones.
        Returns the phones and whether every piece aligned."""
        out, piece, start, all_aligned = [], [], 0.0, True

        def flush(end: float):
            nonlocal all_aligned
            words = [tok.split("(")[0] for _, _, tok in piece if _is_word(tok)]
            if not words:
                out.append((start, end, "SIL"))
                return
            lo, hi = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
            try:
                out.extend((start + a, start + b, p) for a, b, p in self.align(audio[lo:hi], words))
            except RuntimeError:
                all_aligned = False
                out.extend(self.dictionary_phones(piece))

        for seg in segments:
            piece.append(seg)
            at_pause = not _is_word(seg[2]) and seg[1] - seg[0] >= 0.1 and seg[1] - start >= 1.5
            if at_pause or seg[1] - start > max_seconds:
                flush(seg[1])
                piece, start = [], seg[1]
        if piece:
            flush(piece[-1][1])
        return out, all_aligned

    # -- the whole path ----------------------------------------------------------------------------------------

    def recognize(self, audio: np.ndarray) -> Recognition:
        """16 kHz mono float speech -> words and IPA phones with times."""
        audio = np.asarray(audio, np.float32).reshape(-1)
        if audio.size < SAMPLE_RATE // 10 or not np.any(audio):
            return Recognition([], [], "aligned")
        if self._used:
            self._fresh_decoders()
        self._used = True
        segments = self.decode_words(audio)
        words = [(a, b, tok.split("(")[0]) for a, b, tok in segments if _is_word(tok)]
        if not words:
            return Recognition([], [], "aligned")
        try:
            phones, method = self.align(audio, [w for _, _, w in words]), "aligned"
        except RuntimeError:
            phones, complete = self.align_in_pieces(audio, segments)
            method = "aligned in pieces" if complete else "dictionary"
        return Recognition(words, [(float(a), float(b), _ipa(p)) for a, b, p in phones], method)
