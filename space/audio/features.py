"""Log-mel / MFCC features aligned to 25 fps video frames, with a context window, in torch.

Video frame t covers audio samples [t * hop_video, (t + 1) * hop_video) (640 samples at 16 kHz and 25 fps). The
mel hop is 10 ms, so each video frame owns `mels_per_frame` = 4 mel frames; its feature window is those plus
`context` video frames' worth on each side:

    audio (B, S) -> mel (B, M, n_mels) -> windows (B, T, (2 * context + 1) * mels_per_frame, n_features)

with T = round-half-up(S / sample_rate * fps), the project's frame-count convention. Edges are padded with the
features of silence, so the first and last frames see quiet, not a copy of their neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio

from ..io.mp4 import frame_count_for


@dataclass(frozen=True)
class AudioFeatureConfig:
    kind: str = "logmel"  # or "mfcc"
    sample_rate: int = 16000
    fps: float = 25.0
    n_mels: int = 80
    n_mfcc: int = 20
    win_ms: float = 25.0
    hop_ms: float = 10.0
    context: int = 2  # video frames on each side

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def mels_per_frame(self) -> int:
        per = self.sample_rate / self.fps / self.hop
        if abs(per - round(per)) > 1e-9:
            raise ValueError(f"hop {self.hop_ms} ms does not divide the video frame ({1000 / self.fps} ms)")
        return int(round(per))

    @property
    def window(self) -> int:
        return (2 * self.context + 1) * self.mels_per_frame

    @property
    def features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels


class AudioFeatures(torch.nn.Module):
    """Batched, on the module's device: `features(audio)` with audio (B, S) or (S,) float32 at 16 kHz."""

    def __init__(self, config: AudioFeatureConfig = AudioFeatureConfig()):
        super().__init__()
        if config.kind not in ("logmel", "mfcc"):
            raise ValueError(f"unknown audio feature kind {config.kind!r}: choose 'logmel' or 'mfcc'")
        self.config = config
        n_fft = 1 << (int(config.sample_rate * config.win_ms / 1000) - 1).bit_length()
        mel = dict(
            n_fft=n_fft, win_length=int(config.sample_rate * config.win_ms / 1000),
            hop_length=config.hop, n_mels=config.n_mels, center=False,
        )
        if config.kind == "mfcc":
            self.transform = torchaudio.transforms.MFCC(config.sample_rate, config.n_mfcc, log_mels=True, melkwargs=mel)
        else:
            self.transform = torchaudio.transforms.MelSpectrogram(config.sample_rate, **mel)
        self.n_fft = n_fft  # with center=False, stft frames are n_fft long (the window sits in their middle)

    def _spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, M, F): one row per mel hop, the analysis window centred on the hop's middle."""
        total = self.n_fft - self.config.hop
        padded = torch.nn.functional.pad(audio, (total // 2, total - total // 2))
        spec = self.transform(padded)  # (B, F, M)
        if self.config.kind == "logmel":
            spec = torch.log(spec + 1e-6)
        return spec.transpose(1, 2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if audio.dim() == 1:
            audio = audio[None]
        frames = frame_count_for(audio.shape[-1] / cfg.sample_rate, cfg.fps)
        need = frames * cfg.mels_per_frame * cfg.hop  # whole video frames of audio
        audio = torch.nn.functional.pad(audio, (0, max(0, need - audio.shape[-1])))[:, :need]
        spec = self._spectrum(audio)  # (B, frames * mels_per_frame, F)
        silence = self._spectrum(torch.zeros(1, self.n_fft, device=audio.device))[:, :1]
        edge = cfg.context * cfg.mels_per_frame
        spec = torch.cat([silence.expand(len(spec), edge, -1), spec, silence.expand(len(spec), edge, -1)], 1)
        windows = spec.unfold(1, cfg.window, cfg.mels_per_frame)  # (B, frames, F, window)
        return windows.transpose(2, 3).contiguous()  # (B, T, window, F)
