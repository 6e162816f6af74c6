"""Local paths and fsspec URIs (s3://, gs://, memory://, ...) behind one small interface.

Decoders (PyAV, decord, Pillow) want either a local path or a seekable file object; these helpers give them one
and turn "not there" into a typed `MissingFileError` that names the URI. `write_bytes` publishes a small output
(subtitles, JSON) atomically. `content_digest` and `model_fingerprint` name a file or a model folder by what it
holds rather than where it lies (a video's id; a model's part in a job's settings id).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec

from space.errors import MissingFileError

_LOCAL_PROTOCOLS = {"", "file", "local"}
EDGE_BYTES = 64 * 1024  # content_digest reads this much at each end of a file


def _protocol(uri: str | os.PathLike[str]) -> str:
    text = os.fspath(uri)
    return text.split("://", 1)[0].lower() if "://" in text else ""


def is_remote(uri: str | os.PathLike[str]) -> bool:
    """True when the URI names a non-local filesystem (s3://, gs://, memory://, http://...)."""
    return _protocol(uri) not in _LOCAL_PROTOCOLS


def to_local(uri: str | os.PathLike[str]) -> str:
    """The filesystem path of a local URI (strips a file:// prefix); remote URIs are returned unchanged."""
    text = os.fspath(uri)
    return text.split("://", 1)[1] if _protocol(text) in ("file", "local") else text


def file_size(uri: str | os.PathLike[str]) -> int:
    """Size in bytes; MissingFileError when nothing (or a directory) is there."""
    if not is_remote(uri):
        path = Path(to_local(uri))
        if not path.is_file():
            raise MissingFileError(uri, "no such file" if not path.exists() else "is a directory, not a file")
        return path.stat().st_size
    fs, path = fsspec.core.url_to_fs(os.fspath(uri))
    try:
        info = _fresh(fs, path, fs.info)
    except FileNotFoundError as exc:
        raise MissingFileError(uri, "no such file") from exc
    if info.get("type") == "directory":
        raise MissingFileError(uri, "is a directory, not a file")
    return int(info.get("size") or 0)


def open_uri(uri: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """Open a local path or any fsspec URI; the caller closes it (use it as a context manager)."""
    opener = fsspec.open(os.fspath(uri), mode, **kwargs)
    try:
        if "r" not in mode:
            return opener.open()
        return _fresh(opener.fs, opener.path, lambda _: opener.open())
    except FileNotFoundError as exc:
        if "r" not in mode:  # writing: the folder is missing, which is not a missing input
            raise
        raise MissingFileError(uri, "no such file") from exc


def _fresh(fs, path: str, fn):
    """`fn(path)`, once more after dropping `fs`'s cached listings when the file seems missing: object-store
    filesystems (s3fs) answer from a folder listing cached earlier in this process, which may predate the file
    (another worker, or another job, wrote it since)."""
    try:
        return fn(path)
    except FileNotFoundError:
        fs.invalidate_cache(path)
        return fn(path)


def content_digest(uri: str | os.PathLike[str]) -> str:
    """sha256 over (size, the first 64 KiB, the last 64 KiB) of a file, 32 hex characters; MissingFileError when
    nothing is there. Two ranged reads however large the file (cheap on s3://); a change that keeps the size and
    touches neither end is its (for encoded media and model weights, unlikely) blind spot."""
    size = file_size(uri)
    h = hashlib.sha256(f"size={size};".encode())
    with open_uri(uri) as f:
        h.update(f.read(EDGE_BYTES))
        if size > EDGE_BYTES:
            f.seek(max(size - EDGE_BYTES, EDGE_BYTES))
            h.update(f.read(EDGE_BYTES))
    return h.hexdigest()[:32]


def model_fingerprint(ref: str | os.PathLike[str] | None) -> str | None:
    """What a model reference holds, for a settings id: a file's content_digest, a folder's digest over each of
    its files' names and digests, as "content:<hex>"; None stays None, and a reference that names nothing
    there (a model name a library resolves from its cache, or a path not yet filled) stays as written. So new
    weights saved over the old path change the id, and the same weights moved elsewhere keep it."""
    if ref is None:
        return None
    text = os.fspath(ref)
    fs, path = fsspec.core.url_to_fs(text if is_remote(text) else os.path.abspath(to_local(text)))
    try:
        if not fs.exists(path):
            return text
        if not fs.isdir(path):
            return f"content:{content_digest(text)}"
        files = sorted(fs.find(path))
    except (OSError, MissingFileError):  # unreadable (no credentials, a dangling link): as written
        return text
    h = hashlib.sha256()
    for name in files:  # fsspec lists a folder's files by full path, without the protocol, "/"-separated
        uri = fs.unstrip_protocol(name) if is_remote(text) else name
        h.update(f"{name[len(path.rstrip('/')) + 1:]}={content_digest(uri)};".encode())
    return f"content:{h.hexdigest()[:32]}"


@contextmanager
def local_path(uri: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a local path for `uri`: the file itself when local, else a temporary copy removed on exit.

    Needed by libraries that only take paths (decord). The copy keeps the suffix, in case a reader looks at it.
    """
    file_size(uri)  # raises MissingFileError before any copying
    if not is_remote(uri):
        yield to_local(uri)
        return
    fd, tmp = tempfile.mkstemp(prefix="space-", suffix=Path(os.fspath(uri)).suffix)
    os.close(fd)
    try:
        fs, path = fsspec.core.url_to_fs(os.fspath(uri))
        fs.get_file(path, tmp)
        yield tmp
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_bytes(uri: str | os.PathLike[str], data: bytes) -> str:
    """Write `data` to `uri` atomically: readers see the old content or all of the new, never a part. Returns `uri`.

    Local: written under a temporary name in the destination's folder (creating the folder), flushed to disk, then
    renamed over the destination. Remote: one fsspec write (object stores publish a PUT only when it completes).
    """
    name = os.fspath(uri)
    if is_remote(name):
        fs, path = fsspec.core.url_to_fs(name)
        fs.pipe_file(path, bytes(data))
        return name
    dest = Path(to_local(name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")  # same folder: the rename is atomic
    try:
        with open(tmp, "xb") as f:  # open(), not mkstemp: the file gets the usual umask permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename, so a crash cannot publish an empty file
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return name
