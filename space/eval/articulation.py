"""Does a mouth articulate? Lip closure on bilabials and rounding on rounded vowels, read from landmarks at the
times a synthesiser says each phone was spoken (space.synth.tts).

    closure   at the middle frame of every /p/ /b/ /m/ (40 ms or longer): the inner-lip gap over mouth width,
              next to the same at the open vowels around it; closed = under CLOSED and under a third of theirs
    rounding  the mouth width (48 to 54) at rounded vowels (/u/ /o/ /y/ /w/...) against spread ones (/i/ /e/),
              over the photo's mouth width

An energy follower fails both: it opens on loud /b/ /m/ and never narrows for /u/.
"""

from __future__ import annotations

import numpy as np

from ..face.expression import mouth_opening
from ..synth.phones import targets

CLOSED = 0.06  # mouth opening (gap / width) under which lips count as closed
APERTURE, WIDTH = 0, 2


def _frame(t: float, fps: float, count: int) -> int:
    return int(np.clip(round(t * fps - 0.5), 0, count - 1))


def articulation_report(landmarks: np.ndarray, phones, identity: np.ndarray, fps: float = 25.0) -> dict:
    """landmarks (T, 68, 2|3) of speech with `phones` [(start, end, IPA)], identity (68, 2|3): the photo's."""
    lm = np.asarray(landmarks, np.float64)
    count = len(lm)
    opening = mouth_opening(lm)
    width = np.linalg.norm(lm[:, 54, :2] - lm[:, 48, :2], axis=-1)
    rest_width = float(np.linalg.norm(np.asarray(identity)[54, :2] - np.asarray(identity)[48, :2]))
    kinds = [targets(s)[0] for _, _, s in phones]
    bilabial_gap, vowel_gap, closed = [], [], []
    rounded, spread = [], []
    for i, ((start, end, symbol), target) in enumerate(zip(phones, kinds)):
        middle = _frame((start + end) / 2, fps, count)
        if target.kind == "bilabial" and end - start >= 0.04:
            neighbours = [j for j in range(max(0, i - 2), min(len(phones), i + 3))
                          if kinds[j].kind == "vowel" and kinds[j].values[APERTURE] >= 0.4]
            if not neighbours:
                continue
            around = float(np.mean([opening[_frame(sum(phones[j][:2]) / 2, fps, count)] for j in neighbours]))
            here = float(opening[middle])
            bilabial_gap.append(here)
            vowel_gap.append(around)
            closed.append(here < CLOSED and here < around / 3)
        elif target.kind == "rounded_approximant" or (target.kind == "vowel" and target.values[WIDTH] <= -0.6):
            rounded.append(width[middle] / rest_width)
        elif target.kind == "vowel" and target.values[WIDTH] >= 0.4:
            spread.append(width[middle] / rest_width)
    return {
        "bilabials": len(closed),
        "closure_rate": float(np.mean(closed)) if closed else float("nan"),
        "bilabial_opening": float(np.mean(bilabial_gap)) if bilabial_gap else float("nan"),
        "vowel_opening_around": float(np.mean(vowel_gap)) if vowel_gap else float("nan"),
        "rounded_width": float(np.mean(rounded)) if rounded else float("nan"),
        "spread_width": float(np.mean(spread)) if spread else float("nan"),
        "rounded": len(rounded), "spread": len(spread),
    }
