"""Transcripts with word times: whisperx (faster-whisper/CTranslate2 Whisper, pyannote VAD, optional wav2vec2
forced alignment), loaded once per `Transcriber` and run on 16 kHz mono float32 audio.

Loading rules (nothing is ever downloaded):

* `model` names a CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json; preprocessor_config.json
  and vocabulary.* when the conversion wrote them). It may be a local folder; an fsspec URI of a folder
  (s3://..., memory://...), copied once into `<cache_dir>/<sha256(uri)[:16]>` (default cache_dir:
  $SPACE_CACHE/whisper, else ~/.cache/space/whisper), into a temporary folder beside it that is then renamed,
  so concurrent workers never see half a model, and reused by later loads while the remote file sizes still
  match; or a bare faster-whisper name ("large-v3", "tiny", "Systran/faster-whisper-small") that is looked up
  in the local Hugging Face cache only. Anything else raises MissingWeightsError naming the missing files and
  the places searched.
* `align_model` (optional) names a Hugging Face wav2vec2 CTC folder (config.json, model weights, vocab.json,
  preprocessor_config.json, tokenizer_config.json), resolved the same way (a bare name is a Hugging Face repo
  id in the local cache). whisperx loads it per detected language, on first use.
* The VAD is whisperx's pyannote segmentation model, whose weights ship inside the whisperx package.

Word timing. The text always comes from one decode: whisperx's batched pipeline over the VAD segments. Word
times are then computed for exactly that text, so words and text never disagree:

* with an align model, `whisperx.align` (CTC forced alignment of the characters; word_timing "align");
* without one, Whisper's own timing: the segment's text tokens are force-aligned to the segment's audio through
  the cross-attention heads and dynamic time warping (faster-whisper's `find_alignment`, the same computation
  behind its `word_timestamps=True`; word_timing "whisper"). Running faster-whisper's own sequential
  `transcribe(word_timestamps=True)` instead would decode the audio a second time, with its own windows and no
  VAD, and give words whose text differs from the segments'.

Segments the aligner cannot place (whisperx then keeps them unaligned, e.g. when the text has more characters
than the audio has CTC frames) fall back to Whisper's timing (word_timing "align+whisper"). Words left without a time get one
shared out between their timed neighbours (or the segment's edges) by character count; every time is clamped
to [0, duration] with start <= end, so no word has a missing or NaN time.

Offline detail: whisperx splits aligned text into sentences with NLTK's Punkt models and downloads them when
missing. When the language's punkt_tab model is not installed, a parameter-free one (no abbreviation list:
it splits at every sentence-ending mark) is written under `<cache_dir>/nltk_data`; sentences only group the
aligned words, they do not change their times.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from space.errors import MissingWeightsError
from space.io.audio import SAMPLE_RATE, require_signal
from space.audio.pyannote_quiet import no_usage_reports, quiet

_MANIFEST = ".space-source.json"  # in a cached copy: the URI and the file sizes it was copied from


# --------------------------------------------------------------------------------------------------------------
# Model folders


@dataclass(frozen=True)
class _FolderKind:
    """What a model folder must hold, and how a bare name is looked up in the local Hugging Face cache."""

    name: str
    required: tuple[tuple[str, ...], ...]  # each entry: alternatives, one of which must be there
    digest_files: tuple[str, ...]  # hashed (when present) to version outputs
    lookup: Callable[[str], str]  # bare name -> folder in the HF cache; raises LookupError with a reason

    def missing(self, names: set[str]) -> list[str]:
        return [" or ".join(alts) for alts in self.required if not any(a in names for a in alts)]


def _hf_cache() -> str:
    import huggingface_hub.constants

    return str(huggingface_hub.constants.HF_HUB_CACHE)


def _lookup_whisper(name: str) -> str:
    from faster_whisper.utils import available_models, download_model

    if "/" not in name and name not in available_models():
        raise LookupError(f"not a faster-whisper model name ({', '.join(available_models())})")
    try:
        return download_model(name, local_files_only=True)
    except Exception as exc:  # huggingface_hub's LocalEntryNotFoundError and kin: not in the cache
        raise LookupError(f"not in the Hugging Face cache at {_hf_cache()} ({type(exc).__name__})") from exc


def _lookup_hf_repo(name: str) -> str:
    import huggingface_hub

    try:
        return huggingface_hub.snapshot_download(name, local_files_only=True)
    except Exception as exc:
        raise LookupError(f"not in the Hugging Face cache at {_hf_cache()} ({type(exc).__name__})") from exc


WHISPER = _FolderKind(
    name="CTranslate2 Whisper model",
    required=(("model.bin",), ("config.json",), ("tokenizer.json",)),
    digest_files=("model.bin", "config.json"),
    lookup=_lookup_whisper,
)
ALIGNER = _FolderKind(
    name="wav2vec2 alignment model",
    required=(
        ("config.json",),
        ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json"),
        ("vocab.json",),
        ("preprocessor_config.json",),
        ("tokenizer_config.json",),
    ),
    digest_files=("model.safetensors", "pytorch_model.bin", "config.json", "vocab.json"),
    lookup=_lookup_hf_repo,
)


def default_cache_dir() -> str:
    """Where remote model folders are copied: $SPACE_CACHE/whisper, else ~/.cache/space/whisper."""
    base = os.environ.get("SPACE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "space")
    return os.path.join(base, "whisper")


def _local_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


def _check_local(folder: Path, kind: _FolderKind, uri: str) -> str:
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "no such folder"
        raise MissingWeightsError(uri, f"no {kind.name}: {folder} ({what})")
    missing = kind.missing(_local_names(folder))
    if missing:
        raise MissingWeightsError(uri, f"no {kind.name}: {', '.join(missing)} missing in {folder}")
    return str(folder.resolve())


def _looks_like_path(text: str) -> bool:
    # A bare name is a model name or an "org/name" repo id; these can only be paths.
    return text.startswith(("/", ".", "~")) or os.sep != "/" and os.sep in text or text.count("/") > 1


def _resolve(uri: str | os.PathLike[str], kind: _FolderKind, cache_dir: str | os.PathLike[str] | None) -> str:
    text = os.fspath(uri)
    if "://" in text and not text.startswith(("file://", "local://")):
        return _fetch_remote(text, kind, Path(cache_dir or default_cache_dir()))
    path = Path(os.path.expanduser(text.split("://", 1)[-1]))
    if path.exists() or "://" in text or _looks_like_path(text):
        return _check_local(path, kind, text)
    try:
        found = kind.lookup(text)
    except LookupError as exc:
        raise MissingWeightsError(
            text, f"no {kind.name}: no folder {path.resolve()} and {text!r} is {exc}; pass a folder or an s3:// URI"
        ) from None
    return _check_local(Path(found), kind, text)


def resolve_model_dir(uri: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """A local CTranslate2 Whisper folder for `uri` (folder, fsspec URI or cached faster-whisper name)."""
    return _resolve(uri, WHISPER, cache_dir)


def resolve_align_dir(uri: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """A local wav2vec2 CTC folder for `uri` (folder, fsspec URI or cached Hugging Face repo id)."""
    return _resolve(uri, ALIGNER, cache_dir)


def _remote_listing(fs: Any, root: str) -> dict[str, int]:
    """Relative path -> size of every file under `root` (recursive)."""
    files = fs.find(root, detail=True)
    root = root.rstrip("/")
    out = {}
    for path, info in files.items():
        if info.get("type", "file") != "file":
            continue
        out[posixpath.relpath(path, root)] = int(info.get("size") or 0)
    return out


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fetch_remote(uri: str, kind: _FolderKind, cache_root: Path) -> str:
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    root = root.rstrip("/")
    try:
        listing = _remote_listing(fs, root) if fs.isdir(root) else {}
    except (FileNotFoundError, NotADirectoryError):
        listing = {}
    if not listing:
        raise MissingWeightsError(uri, f"no {kind.name}: no such folder (or an empty one) at {uri}")
    missing = kind.missing({rel for rel in listing if "/" not in rel})
    if missing:
        raise MissingWeightsError(uri, f"no {kind.name}: {', '.join(missing)} missing in {uri}")
    final = cache_root / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    manifest = _read_manifest(final)
    if manifest is not None and manifest.get("files") == listing and not kind.missing(_local_names(final)):
        return str(final)  # copied before, and the remote files still have the same sizes

    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=cache_root))
    try:
        for rel in sorted(listing):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{root}/{rel}", str(target))
        (tmp / _MANIFEST).write_text(json.dumps({"uri": uri, "files": listing}, sort_keys=True), encoding="utf-8")
        if final.exists():  # a stale copy: move it aside first, so the rename below is atomic
            stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.stale-", dir=cache_root))
            with contextlib.suppress(OSError):
                os.replace(final, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # another worker finished the same copy first: use theirs
            if kind.missing(_local_names(final)):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(final)


def folder_digest(folder: str | os.PathLike[str], names: Sequence[str]) -> str:
    """sha256 over the named files present in `folder` (name, size, content), 16 hex characters."""
    h = hashlib.sha256()
    for name in names:
        path = Path(folder) / name
        if not path.is_file():
            continue
        h.update(f"{name}:{path.stat().st_size};".encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(4 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    score: float | None  # aligner confidence (CTC) or Whisper token probability; None when interpolated

    def to_record(self) -> dict:
        return {
            "text": self.text,
            "start": round(float(self.start), 3),
            "end": round(float(self.end), 3),
            "score": None if self.score is None else round(float(self.score), 3),
        }


@dataclass
class Transcript:
    language: str
    text: str
    segments: list[dict] = field(default_factory=list)  # {"start", "end", "text"}
    words: list[Word] = field(default_factory=list)
    word_timing: str = "whisper"  # "align", "whisper" or "align+whisper" (see the module docstring)

    def to_record(self) -> dict:
        """Plain JSON-ready values, times in seconds rounded to ms."""
        return {
            "language": self.language,
            "text": self.text,
            "segments": [
                {"start": round(float(s["start"]), 3), "end": round(float(s["end"]), 3), "text": str(s["text"])}
                for s in self.segments
            ],
            "words": [w.to_record() for w in self.words],
            "word_timing": self.word_timing,
        }


# --------------------------------------------------------------------------------------------------------------
# Helpers


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    # The VAD's LSTM and the aligner run in torch, whose default (one thread per core) oversubscribes workers
    # that share a machine; OpenMP's spinning threads then run the LSTM ~100x slower. Scoped, not global.
    import torch

    before = torch.get_num_threads()
    change = n > 0 and n != before
    if change:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)


def _ensure_punkt(language: str, cache_root: Path) -> None:
    """Make whisperx's sentence splitter loadable offline (see the module docstring)."""
    import nltk
    from whisperx.utils import PUNKT_LANGUAGES

    name = PUNKT_LANGUAGES.get(language, "english")
    try:
        nltk.data.find(f"tokenizers/punkt_tab/{name}/")
        return
    except LookupError:
        pass
    root = cache_root / "nltk_data"
    folder = root / "tokenizers" / "punkt_tab" / name
    folder.mkdir(parents=True, exist_ok=True)
    for file in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (folder / file).touch()
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))


def _spread(texts: list[str], lo: float, hi: float) -> list[tuple[float, float]]:
    """Share [lo, hi] between words in proportion to their lengths."""
    hi = max(hi, lo)
    weights = np.array([max(len(t), 1) for t in texts], dtype=np.float64)
    edges = lo + (hi - lo) * np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fill_times(raw: list[dict], seg_start: float, seg_end: float) -> list[Word]:
    """Words with a time each: missing ones share the gap between their timed neighbours (or segment edges)."""
    starts = [_finite(w.get("start")) for w in raw]
    ends = [_finite(w.get("end")) for w in raw]
    for i in range(len(raw)):  # a word with one edge gets a zero-length time there
        if starts[i] is None and ends[i] is not None:
            starts[i] = ends[i]
        if ends[i] is None and starts[i] is not None:
            ends[i] = starts[i]
    i = 0
    while i < len(raw):
        if starts[i] is not None:
            i += 1
            continue
        j = i
        while j < len(raw) and starts[j] is None:
            j += 1
        lo = ends[i - 1] if i > 0 else seg_start
        hi = starts[j] if j < len(raw) else seg_end
        for k, (a, b) in zip(range(i, j), _spread([raw[k]["word"] for k in range(i, j)], lo, hi)):
            starts[k], ends[k] = a, b
            raw[k]["score"] = None
        i = j
    return [Word(str(w["word"]).strip(), starts[k], ends[k], _finite(w.get("score"))) for k, w in enumerate(raw)]


# --------------------------------------------------------------------------------------------------------------
# Transcriber


class Transcriber:
    """whisperx transcription with word times; models are loaded once, `transcribe` runs per file."""

    def __init__(
        self,
        model: str,
        align_model: str | None = None,
        device: str = "cpu",
        compute_type: str = "default",
        language: str | None = None,
        batch_size: int = 8,
        threads: int = 1,
        cache_dir: str | os.PathLike[str] | None = None,
    ):
        self.model_uri = os.fspath(model)
        self.cache_root = Path(cache_dir or default_cache_dir())
        self.model_dir = resolve_model_dir(model, self.cache_root)
        self.align_uri = None if align_model is None else os.fspath(align_model)
        self.align_dir = None if align_model is None else resolve_align_dir(align_model, self.cache_root)
        self.device, self.compute_type, self.language = device, compute_type, language
        self.batch_size, self.threads = batch_size, threads
        self._digests: dict[str, str] = {}
        self._align_model: tuple[Any, dict] | None = None  # loaded on first use
        self._punkt_ready: set[str] = set()

        no_usage_reports()  # whisperx loads pyannote's VAD: offline, its usage reports stall every call
        with quiet(), self._threads():
            import whisperx

            self._whisperx = whisperx
            self._pipeline = whisperx.load_model(
                self.model_dir,
                device,
                compute_type=compute_type,
                language=language,
                vad_method="pyannote",
                threads=threads,
                local_files_only=True,
            )
        self._model = self._pipeline.model  # faster-whisper WhisperModel (whisperx subclass)

    # -- public ------------------------------------------------------------------------------------------------

    def describe(self) -> dict:
        """The models and settings, to version the transcripts a job writes (digests computed once)."""
        if "model" not in self._digests:
            self._digests["model"] = folder_digest(self.model_dir, WHISPER.digest_files)
            if self.align_dir is not None:
                self._digests["align"] = folder_digest(self.align_dir, ALIGNER.digest_files)
        return {
            "model": self.model_uri,
            "model_dir": self.model_dir,
            "model_sha256": self._digests["model"],
            "align_model": self.align_uri,
            "align_dir": self.align_dir,
            "align_sha256": self._digests.get("align"),
            "device": self.device,
            "compute_type": self._model.model.compute_type,
            "language": self.language,
            "vad": "pyannote",
            "word_timing": "whisper" if self.align_dir is None else "align",
        }

    def transcribe(self, audio: np.ndarray, source: str = "<audio>", language: str | None = None) -> Transcript:
        """Transcript of 16 kHz mono float32 `audio`. SilentAudioError (naming `source`) when it is empty or
        below SILENCE_DBFS; audio without recognised speech gives an empty transcript, not an error.
        `language`: this clip's language code (default: the Transcriber's, else detected)."""
        audio = require_signal(audio, source)
        duration = audio.size / SAMPLE_RATE
        language = language or self.language

        with quiet(), self._threads():
            result = self._pipeline.transcribe(audio, batch_size=self.batch_size, language=language)
            language = str(result.get("language") or language or "en")
            segments = [
                {"start": float(s["start"]), "end": float(s["end"]), "text": str(s["text"]).strip()}
                for s in result["segments"]
                if str(s["text"]).strip()
            ]
            timing = "whisper" if self.align_dir is None else "align"
            out_segments: list[dict] = []
            words: list[Word] = []
            for seg in segments:
                seg_words, seg_parts, method = self._time_words(seg, audio, language)
                if method != timing:
                    timing = "align+whisper"
                words.extend(seg_words)
                out_segments.extend(seg_parts)

        def clamp(t: float) -> float:
            return min(max(float(t), 0.0), duration)

        for w in words:
            w.start = clamp(w.start)
            w.end = max(clamp(w.end), w.start)
        for s in out_segments:
            s["start"] = clamp(s["start"])
            s["end"] = max(clamp(s["end"]), s["start"])
        text = " ".join(s["text"] for s in segments)
        return Transcript(language=language, text=text, segments=out_segments, words=words, word_timing=timing)

    # -- internals ---------------------------------------------------------------------------------------------

    def _threads(self):
        return _torch_threads(self.threads if self.device == "cpu" else 0)

    def _time_words(self, seg: dict, audio: np.ndarray, language: str) -> tuple[list[Word], list[dict], str]:
        """Words of one pipeline segment with times, the segment(s) to report, and the method that timed them."""
        if self.align_dir is not None:
            aligned = self._align(seg, audio, language)
            if aligned is not None:
                return aligned[0], aligned[1], "align"
        words = self._whisper_words(seg, audio, language)
        return words, [dict(seg)], "whisper"

    def _aligner(self, language: str) -> tuple[Any, dict]:
        # One wav2vec2 model serves every language (its alphabet is what it is); only whisperx's metadata, which
        # picks the sentence splitter and whether words are split on spaces, depends on the language.
        if self._align_model is None:
            self._align_model = self._whisperx.load_align_model(
                language, self.device, model_name=self.align_dir, model_cache_only=True
            )
        if language not in self._punkt_ready:
            _ensure_punkt(language, self.cache_root)
            self._punkt_ready.add(language)
        model, metadata = self._align_model
        return model, dict(metadata, language=language)

    def _align(self, seg: dict, audio: np.ndarray, language: str) -> tuple[list[Word], list[dict]] | None:
        """CTC alignment of one segment (whisperx splits it into sentences); None when it could not align."""
        model, metadata = self._aligner(language)
        result = self._whisperx.align([dict(seg)], model, metadata, audio, self.device, return_char_alignments=False)
        words: list[Word] = []
        parts: list[dict] = []
        for sub in result["segments"]:
            raw = [dict(w) for w in sub.get("words") or [] if str(w.get("word", "")).strip()]
            if not raw or all(_finite(w.get("start")) is None for w in raw):
                return None  # whisperx kept the segment unaligned ("resorting to original")
            start = _finite(sub.get("start"))
            end = _finite(sub.get("end"))
            start = seg["start"] if start is None else start
            end = seg["end"] if end is None else end
            words.extend(_fill_times(raw, start, end))
            parts.append({"start": start, "end": end, "text": str(sub["text"]).strip()})
        return (words, parts) if words else None

    def _whisper_words(self, seg: dict, audio: np.ndarray, language: str) -> list[Word]:
        """Whisper's cross-attention timing of the segment's own text (see the module docstring)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import merge_punctuations

        model = self._model
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
        t0 = seg["start"]
        chunk = audio[int(round(t0 * SAMPLE_RATE)) : int(round(seg["end"] * SAMPLE_RATE))]
        tokens = tokenizer.encode(" " + seg["text"])
        alignment: list[dict] = []
        # the decoder sees the prompt (4 tokens), the text and <|endoftext|> within its 448 positions
        if chunk.size and tokens and len(tokens) <= model.max_length - 8:
            features = model.feature_extractor(chunk)
            num_frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
            if num_frames > 0:
                encoder_output = model.encode(pad_or_trim(features[:, :num_frames]))
                alignment = model.find_alignment(tokenizer, [tokens], encoder_output, num_frames)[0]
                merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
        raw = [
            {"word": w["word"], "start": t0 + w["start"], "end": t0 + w["end"], "score": w["probability"]}
            for w in alignment
            if w["word"].strip()
        ]
        if not raw:  # nothing to align against: share the segment between its words
            raw = [{"word": t} for t in seg["text"].split()]
        return _fill_times(raw, seg["start"], seg["end"])
