from __future__ import annotations

import os
import uuid

import fsspec
import pytest

from space.errors import MissingFileError
from space.io.uri import file_size, is_remote, local_path, open_uri


@pytest.fixture
def memory_uri() -> str:
    """A file on fsspec's in-memory filesystem: stands in for s3:// without a network."""
    uri = f"memory://space-tests/{uuid.uuid4().hex}/clip.bin"
    with fsspec.open(uri, "wb") as f:
        f.write(b"remote bytes")
    yield uri
    fsspec.filesystem("memory").rm(uri.removeprefix("memory://"))


@pytest.mark.parametrize(
    ("uri", "remote"),
    [("/tmp/a.mp4", False), ("rel/a.mp4", False), ("file:///tmp/a.mp4", False), ("s3://b/a.mp4", True),
     ("gs://b/a.wav", True), ("memory://x/a", True), ("https://host/a.mp4", True)],
)  # fmt: skip
def test_is_remote(uri: str, remote: bool) -> None:
    assert is_remote(uri) is remote


def test_open_uri_local_and_file_scheme(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    with open_uri(path) as f:
        assert f.read() == b"hello"
    with open_uri(f"file://{path}") as f:
        assert f.read() == b"hello"
    assert file_size(path) == 5


def test_open_uri_remote(memory_uri: str) -> None:
    with open_uri(memory_uri) as f:
        assert f.read() == b"remote bytes"
    assert file_size(memory_uri) == len(b"remote bytes")


def test_local_path_is_the_file_itself_when_local(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x")
    with local_path(path) as local:
        assert local == str(path)
    assert path.exists()  # never deleted


def test_local_path_copies_remote_and_cleans_up(memory_uri: str) -> None:
    with local_path(memory_uri) as local:
        assert os.path.isfile(local) and local.endswith(".bin")  # keeps the suffix
        with open(local, "rb") as f:
            assert f.read() == b"remote bytes"
    assert not os.path.exists(local)


@pytest.mark.parametrize("make_uri", [lambda p: str(p / "nope.mp4"), lambda p: "memory://space-tests/nope.mp4"])
def test_missing_file_names_the_uri(tmp_path, make_uri) -> None:
    uri = make_uri(tmp_path)
    for call in (lambda: open_uri(uri), lambda: local_path(uri).__enter__(), lambda: file_size(uri)):
        with pytest.raises(MissingFileError, match="nope.mp4") as info:
            call()
        assert info.value.source == uri


def test_directory_is_not_a_file(tmp_path) -> None:
    with pytest.raises(MissingFileError, match="directory"):
        file_size(tmp_path)
