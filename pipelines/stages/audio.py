"""Audio of each clip: per-frame features (CPU tasks) and a transcript with word times (whisperx, an actor pool).

Both read the clip's audio that the segment stage packed (16 kHz mono float32), so nothing is decoded twice.
Features are `space.audio.features` windows, (T, W, F) per clip, stored as float16 like the training cache.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from pipelines.blobs import pack_arrays, unpack_arrays
from pipelines.stages.base import Resources, Stage, limit_threads
from pipelines.stages.faces import clip_source
from space.audio.features import AudioFeatureConfig

__all__ = ["AudioFeatureStage", "TranscriptSettings", "TranscriptStage"]


class AudioFeatureStage(Stage):
    """clip row -> + `audio_features` (packed `features` (T, W, F) float16). Cheap: torch on one CPU thread."""

    name = "audio_features"
    resources = Resources(cpus=1, batch_size=8)

    def __init__(self, config: AudioFeatureConfig = AudioFeatureConfig(), resources: Resources | None = None):
        self.config = config
        super().__init__(resources)
        self.features = None

    def setup(self) -> None:
        from space.audio.features import AudioFeatures

        limit_threads(self.resources.cpus)
        self.features = AudioFeatures(self.config)

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._features)

    def _features(self, row: dict) -> dict:
        import torch

        audio = unpack_arrays(row["audio"])["audio"]
        with torch.no_grad():
            windows = self.features(torch.from_numpy(audio))[0].numpy()  # (T, W, F)
        return {**row, "audio_features": pack_arrays(features=windows.astype(np.float16))}


@dataclass(frozen=True)
class TranscriptSettings:
    model: str | None = None  # CTranslate2 Whisper folder, s3:// URI or a cached model name; None: no transcripts
    align_model: str | None = None  # wav2vec2 folder / URI for word alignment (None: Whisper's own word times)
    language: str | None = None  # None: detected per clip
    compute_type: str = "default"  # float16 on GPU, float32 on CPU
    batch_size: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


class TranscriptStage(Stage):
    """clip row -> + `transcript` (the JSON of `space.audio.transcribe.Transcript.to_record()`): language, text,
    segments, words with start / end / score. A model load failure fails every clip with a clear reason."""

    name = "transcripts"
    resources = Resources(cpus=1, batch_size=4, actors=1)

    def __init__(self, settings: TranscriptSettings, device: str = "cpu", resources: Resources | None = None):
        if not settings.model:
            raise ValueError("TranscriptStage needs a Whisper model (TranscriptSettings.model)")
        self.settings, self.device = settings, device
        super().__init__(resources)
        self.transcriber = None

    def setup(self) -> None:
        from space.audio.transcribe import Transcriber

        s = self.settings
        threads = max(1, int(self.resources.cpus))
        self.transcriber = Transcriber(
            s.model, align_model=s.align_model, device=self.device, compute_type=s.compute_type,
            language=s.language, batch_size=s.batch_size, threads=threads,
        )

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._transcribe)

    def _transcribe(self, row: dict) -> dict:
        audio = unpack_arrays(row["audio"])["audio"]
        transcript = self.transcriber.transcribe(audio, source=clip_source(row))
        return {**row, "transcript": json.dumps(transcript.to_record())}
