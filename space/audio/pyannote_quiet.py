"""pyannote (whisperx's VAD, used by clip cutting and by transcription) made fit for batch jobs.

- `no_usage_reports()`: pyannote.audio 4 reports every model load and pipeline call to its makers' server unless
  told not to; offline that stalls each call for many seconds (export timeouts), and a corpus job should send
  nothing anywhere. The variable is read at every call, so setting it works even after pyannote is imported.
- `quiet()`: pyannote warns that torchcodec cannot decode files (we pass waveforms) and Lightning logs a
  checkpoint upgrade on every load: noise in batch-job logs, not news.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

__all__ = ["no_usage_reports", "quiet"]


def no_usage_reports() -> None:
    os.environ["PYANNOTE_METRICS_ENABLED"] = "false"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    loggers = [logging.getLogger(f"{p}.utilities.migration.utils") for p in ("lightning.pytorch", "pytorch_lightning")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
