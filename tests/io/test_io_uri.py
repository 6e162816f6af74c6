from __future__ import annotations

import os
import uuid

import fsspec
import pytest

from space.errors import MissingFileError
from space.io.uri import content_digest, file_size, is_remote, local_path, model_fingerprint, open_uri


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


def test_a_model_is_known_by_what_it_holds(tmp_path) -> None:
    """A settings id names a model by its content: the same weights elsewhere (another folder, s3://) are the
    same model, weights saved over the old file or a changed file in a model folder are another one; a name a
    library resolves itself ("large-v3") and None stay as they are."""
    weights = os.urandom(200_000)  # longer than the two 64 KiB ends content_digest reads
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.bin").write_bytes(weights)
    (tmp_path / "a" / "config.json").write_text("{}")
    moved = tmp_path / "b"
    moved.mkdir()
    (moved / "model.bin").write_bytes(weights)
    (moved / "config.json").write_text("{}")
    remote = f"memory://space-tests/{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe({f"{remote}/model.bin": weights, f"{remote}/config.json": b"{}"})

    file_print = model_fingerprint(tmp_path / "a" / "model.bin")
    assert file_print == f"content:{content_digest(tmp_path / 'a' / 'model.bin')}"
    assert file_print == model_fingerprint(moved / "model.bin") == model_fingerprint(f"{remote}/model.bin")
    folder_print = model_fingerprint(tmp_path / "a")
    assert folder_print.startswith("content:") and folder_print != file_print
    assert folder_print == model_fingerprint(str(moved) + "/") == model_fingerprint(remote)

    (moved / "model.bin").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))  # retrained, saved over
    assert model_fingerprint(moved / "model.bin") != file_print and model_fingerprint(moved) != folder_print
    (tmp_path / "a" / "extra.txt").write_text("x")
    assert model_fingerprint(tmp_path / "a") != folder_print
    assert model_fingerprint("large-v3") == "large-v3" and model_fingerprint(None) is None
    assert model_fingerprint(tmp_path / "not-yet.pth") == str(tmp_path / "not-yet.pth")
    fs.rm(remote, recursive=True)
