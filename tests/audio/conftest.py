"""Tiny locally built ASR models (random weights, seconds to build) and transcribers over them, once a session."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Belt and braces: the code under test passes local_files_only everywhere; these make any slip fail fast
# instead of trying the network. Set before huggingface_hub / transformers read them at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> str:
    """A CTranslate2 Whisper folder (see tests/support/tiny_asr.py): emits 4 words per VAD segment."""
    from tests.support.tiny_asr import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper") / "model")


@pytest.fixture(scope="session")
def tiny_aligner_dir(tmp_path_factory) -> str:
    """A random character-level wav2vec2 CTC folder."""
    from tests.support.tiny_asr import build_tiny_aligner

    return build_tiny_aligner(tmp_path_factory.mktemp("tiny_aligner") / "model")


@pytest.fixture(scope="session")
def asr_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("asr_cache"))


@pytest.fixture(scope="session")
def speech3() -> np.ndarray:
    """3 s of formant-synthesised speech, 16 kHz float32."""
    from space.synth.speech import synthesize_speech

    return synthesize_speech(3.0, seed=1).audio.astype(np.float32)


@pytest.fixture(scope="session")
def transcriber(tiny_whisper_dir, asr_cache):
    """Whisper word timing (no aligner), language detected."""
    from space.audio.transcribe import Transcriber

    return Transcriber(tiny_whisper_dir, cache_dir=asr_cache)


@pytest.fixture(scope="session")
def aligned_transcriber(tiny_whisper_dir, tiny_aligner_dir, asr_cache):
    """Word times from the wav2vec2 aligner."""
    from space.audio.transcribe import Transcriber

    return Transcriber(tiny_whisper_dir, align_model=tiny_aligner_dir, cache_dir=asr_cache)
