"""What the lips and jaw do for a phone: articulatory targets for IPA symbols (espeak-ng) and ARPAbet (Festival,
Flite), with the dominance each phone has over its neighbours (space.synth.articulation).

A phone's target is four numbers, ARTICULATORS:

    aperture  the inner-lip gap, 0 = the lips at rest (closed), 1 = a wide /a/; bilabials press below rest
    jaw       the jaw drop (chin), 0 = at rest, 1 = a wide /a/
    width     -1 = rounded and protruded (/u/, /w/), 0 = neutral, +1 = spread (/i/)
    tuck      1 = the lower lip raised under the upper teeth (/f/, /v/)

and a dominance per articulator: how strongly the phone pulls that articulator to its target against its
neighbours (Cohen & Massaro 1993). Bilabials dominate the aperture (the lips must close, whatever the vowels
around them), while most consonants barely constrain the lips, so the rounding of /u/ in "stew" spreads over
the /s/ and /t/ before it; vowels set the jaw and the lip shape.

Vowel heights follow the IPA chart (close .. open), rounding its rounded/unrounded pairs. A symbol is read by
its base letters: diacritics (length, nasalisation, tone, palatalisation, espeak's own marks) are dropped, and
a symbol with two vowel letters (a diphthong: /aɪ/, /oʊ/) gives two targets, the first at 30% of the phone
and the second at 75%.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ARTICULATORS = ("aperture", "jaw", "width", "tuck")

# IPA vowel letter -> (aperture, jaw, width). Openness from the chart's height; rounded vowels narrow.
_VOWELS = {
    # open
    "a": (1.0, 1.0, 0.1), "ä": (1.0, 1.0, 0.0), "ɑ": (1.0, 1.0, -0.1), "æ": (0.85, 0.85, 0.35),
    "ɶ": (0.85, 0.85, -0.4), "ɒ": (0.85, 0.9, -0.45),
    # near-open / open-mid
    "ɐ": (0.7, 0.7, 0.0), "ʌ": (0.7, 0.7, 0.05), "ɛ": (0.62, 0.6, 0.35), "œ": (0.55, 0.55, -0.6),
    "ɔ": (0.62, 0.65, -0.65), "ɜ": (0.5, 0.5, 0.0), "ɞ": (0.5, 0.5, -0.55),
    # mid
    "ə": (0.42, 0.42, 0.0), "ɚ": (0.38, 0.38, -0.2), "ɝ": (0.38, 0.38, -0.3), "ɘ": (0.4, 0.4, 0.1),
    "ɵ": (0.4, 0.4, -0.6),
    # close-mid
    "e": (0.5, 0.48, 0.45), "ø": (0.42, 0.42, -0.8), "ɤ": (0.45, 0.45, 0.1), "o": (0.48, 0.5, -0.8),
    # near-close / close
    "ɪ": (0.35, 0.32, 0.5), "ʏ": (0.3, 0.3, -0.8), "ʊ": (0.3, 0.3, -0.8), "i": (0.26, 0.25, 0.7),
    "y": (0.22, 0.22, -1.0), "ɨ": (0.28, 0.28, 0.3), "ʉ": (0.24, 0.24, -0.9), "ɯ": (0.28, 0.28, 0.25),
    "u": (0.22, 0.22, -1.0),
}

# Consonant classes: (aperture, jaw, width, tuck) targets and per-articulator dominance.
@dataclass(frozen=True)
class PhoneClass:
    name: str
    target: tuple[float, float, float, float]
    dominance: tuple[float, float, float, float]


BILABIAL = PhoneClass("bilabial", (-0.08, 0.12, 0.0, 0.0), (15.0, 0.6, 0.15, 1.0))
BILABIAL_FRICATIVE = PhoneClass("bilabial_fricative", (0.04, 0.15, 0.0, 0.0), (12.0, 0.6, 0.15, 1.0))
LABIODENTAL = PhoneClass("labiodental", (0.02, 0.15, 0.0, 1.0), (12.0, 0.6, 0.2, 12.0))
ROUNDED_APPROXIMANT = PhoneClass("rounded_approximant", (0.12, 0.15, -1.0, 0.0), (4.0, 0.6, 6.0, 1.0))
POSTALVEOLAR = PhoneClass("postalveolar", (0.18, 0.15, -0.55, 0.0), (1.0, 0.6, 2.5, 1.0))
ENGLISH_R = PhoneClass("rhotic", (0.25, 0.2, -0.35, 0.0), (0.6, 0.4, 1.2, 1.0))
DENTAL = PhoneClass("dental", (0.22, 0.18, 0.1, 0.0), (0.8, 0.6, 0.2, 1.0))
LINGUAL = PhoneClass("lingual", (0.25, 0.2, 0.0, 0.0), (0.25, 0.4, 0.08, 1.0))  # t d n s z l k g ...
OPEN_CONSONANT = PhoneClass("open_consonant", (0.45, 0.45, 0.0, 0.0), (0.15, 0.25, 0.05, 1.0))  # h, ʔ: vowel-coloured
SILENCE = PhoneClass("silence", (0.0, 0.0, 0.0, 0.0), (2.0, 2.0, 1.0, 2.0))
VOWEL_DOMINANCE = (1.0, 1.0, 1.0, 1.0)

_CONSONANTS: dict[str, PhoneClass] = {}
for _letters, _cls in (
    ("pbmɓʙ", BILABIAL), ("ɸβ", BILABIAL_FRICATIVE), ("fvɱʋ", LABIODENTAL), ("wʍɥ", ROUNDED_APPROXIMANT),
    ("ʃʒʂʐɕʑ", POSTALVEOLAR), ("ɹɻ", ENGLISH_R), ("θð", DENTAL),
    ("tdnszlkgɡŋxɣjʁrɾʀqɲʎçʝcɟɭɳɖʈɽɬɮχħʕɫʟɰɴɢ", LINGUAL), ("hɦʔ", OPEN_CONSONANT),
):
    for _letter in _letters:
        _CONSONANTS[_letter] = _cls

# ARPAbet (CMU phone set, as Festival's and Flite's US voices use it) -> IPA (space.synth.tts converts their
# phones on the way in, so everything downstream is IPA).
ARPABET = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ", "eh": "ɛ",
    "er": "ɝ", "ey": "eɪ", "ih": "ɪ", "ix": "ɨ", "iy": "i", "ow": "oʊ", "oy": "ɔɪ", "uh": "ʊ", "uw": "u",
    "ux": "ʉ", "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "el": "l", "em": "m", "en": "n", "f": "f",
    "g": "ɡ", "hh": "h", "h": "h", "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "nx": "ŋ",
    "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ", "v": "v", "w": "w", "wh": "ʍ", "y": "j",
    "z": "z", "zh": "ʒ", "pau": "", "h#": "", "sil": "", "brth": "", "#": "",
}


@dataclass(frozen=True)
class Target:
    """One articulatory target inside a phone: at `at` (0..1 of the phone's duration)."""

    at: float
    values: tuple[float, float, float, float]
    dominance: tuple[float, float, float, float]
    kind: str  # 'vowel', 'silence' or a consonant class name


def base_letters(symbol: str) -> str:
    """The letters of an IPA symbol without diacritics, length, tone or espeak's marks ('ɔ̃' -> 'ɔ', 'aː' -> 'a',
    'tʰ' -> 't', 's.' -> 's')."""
    out = []
    for ch in unicodedata.normalize("NFD", symbol):
        # letters only: combining marks (Mn) and modifier letters (Lm: ː ʰ ʲ ᵝ) are dropped
        if unicodedata.category(ch) in ("Ll", "Lu", "Lo"):
            out.append(ch.lower())
    return "".join(out)


def from_arpabet(symbol: str) -> str:
    """An ARPAbet phone (stress digits allowed) -> IPA; a pause -> ''. Unknown symbols pass through."""
    key = symbol.strip().lower().rstrip("012")
    return ARPABET.get(key, symbol)


def targets(symbol: str) -> list[Target]:
    """The articulatory targets of one IPA phone symbol ('' is silence; ARPAbet goes through `from_arpabet`
    first: 'y' is a vowel in IPA and a glide in ARPAbet). A letter the tables lack behaves as a weakly
    constraining consonant, so a new phone never breaks a corpus."""
    letters = base_letters(symbol.strip())
    if not letters:
        return [Target(0.5, SILENCE.target, SILENCE.dominance, SILENCE.name)]
    vowels = [ch for ch in letters if ch in _VOWELS]
    if vowels:
        if len(vowels) == 1:
            return [Target(0.5, (*_VOWELS[vowels[0]], 0.0), VOWEL_DOMINANCE, "vowel")]
        first, last = vowels[0], vowels[-1]
        return [Target(0.3, (*_VOWELS[first], 0.0), VOWEL_DOMINANCE, "vowel"),
                Target(0.75, (*_VOWELS[last], 0.0), VOWEL_DOMINANCE, "vowel")]
    # A consonant (or cluster, 'tʃ', 'ts'): the letter whose class pulls the lips hardest decides.
    classes = [_CONSONANTS.get(ch, LINGUAL) for ch in letters]
    cls = max(classes, key=lambda c: max(c.dominance[0], c.dominance[2], c.dominance[3]))
    return [Target(0.5, cls.target, cls.dominance, cls.name)]
