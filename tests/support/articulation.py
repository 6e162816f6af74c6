"""Held-out articulation: a mouth driven by speech it never heard, read at the synthesiser's own phone times."""

from __future__ import annotations

import numpy as np
import pytest


def needs_engines():
    from space.synth.tts import available_engines

    reasons = [reason for reason in available_engines().values() if reason is not None]
    if reasons:
        pytest.skip("; ".join(reasons))


def held_out_articulation(landmarks_of) -> dict[str, dict[str, float]]:
    """The sentences of space.synth.texts.HELD_OUT (full of /p b m/ and /u o w/) spoken by three voices;
    `landmarks_of(audio, identity)` -> (T, 68, 3) for the mean face. Per voice: bilabial count, the opening at
    bilabials and at the open vowels around them (weighted by count), and the mouth width at rounded and spread
    vowels over the photo's (space.eval.articulation)."""
    from space.eval.articulation import articulation_report
    from space.synth.phonetic import identity_base
    from space.synth.texts import HELD_OUT
    from space.synth.tts import Espeak, Festival, Flite

    needs_engines()
    identity = identity_base("mean_face")
    voices = {"festival slt (HTS)": lambda t: Festival().synthesize(t, voice="cmu_us_slt_arctic_hts"),
              "flite awb": lambda t: Flite().synthesize(t, voice="awb"),
              "espeak-ng en+m3": lambda t: Espeak().synthesize(t, voice="en+m3")}
    out = {}
    for name, speak in voices.items():
        reports = []
        for text in HELD_OUT:
            utterance = speak(text)
            reports.append(articulation_report(landmarks_of(utterance.audio, identity), utterance.phones, identity))
        counted = [r for r in reports if r["bilabials"]]
        weights = [r["bilabials"] for r in counted]
        out[name] = {
            "bilabials": sum(weights),
            "bilabial": float(np.average([r["bilabial_opening"] for r in counted], weights=weights)),
            "vowels": float(np.average([r["vowel_opening_around"] for r in counted], weights=weights)),
            "rounded": float(np.nanmean([r["rounded_width"] for r in reports])),
            "spread": float(np.nanmean([r["spread_width"] for r in reports])),
        }
        m = out[name]
        print(f"\n{name}: {m['bilabials']} bilabials open {m['bilabial']:.3f} vs the vowels around {m['vowels']:.3f}; "
              f"mouth width rounded {m['rounded']:.3f}, spread {m['spread']:.3f} (of the photo's)")
    return out
