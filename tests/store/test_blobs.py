"""Blob stores: content addressing, atomic writes, integrity on read; local and S3."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import cairn.store
from cairn.codecs import decode, encode
from cairn.errors import CorruptBlobError, NotFoundError
from cairn.store.blobs import PARALLEL_PUT_BYTES, LocalBlobStore, digest_of, open_blob_store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "s3":
        return open_blob_store(request.getfixturevalue("s3_url"))
    return open_blob_store(str(tmp_path / "blobs"))


def test_put_get_dedupe(blobs) -> None:
    data = os.urandom(100_000)
    digest = blobs.put(data)
    assert digest == digest_of(data) and len(digest) == 64
    assert blobs.put(data) == digest
    assert bytes(blobs.get(digest)) == data
    assert [d for d, _ in blobs.digests()] == [digest]
    assert bytes(blobs.get(blobs.put(b""))) == b""


def test_missing_and_malformed_digests(blobs) -> None:
    with pytest.raises(NotFoundError, match="is not in"):
        blobs.get("0" * 64)
    with pytest.raises(NotFoundError, match="not a blob digest"):
        blobs.get("../../etc/passwd")


def test_corruption_is_detected(blobs) -> None:
    digest = blobs.put(b"important bytes" * 1000)
    if isinstance(blobs, LocalBlobStore):
        path = blobs.path(digest)
        path.chmod(0o644)
        path.write_bytes(b"imp0rtant bytes" * 1000)
    else:
        blobs.fs.pipe_file(blobs.path(digest), b"truncated")
    with pytest.raises(CorruptBlobError, match=digest):
        blobs.get(digest)


@pytest.mark.parametrize("size", [1_000_000, PARALLEL_PUT_BYTES + 1], ids=["small", "large"])
def test_local_write_is_atomic_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    blobs = LocalBlobStore(str(tmp_path / "blobs"))
    data = os.urandom(size)
    real_fdopen = os.fdopen

    def fails_halfway(fd: int, mode: str):  # a full disk in the middle of the write
        f = real_fdopen(fd, mode)
        f.write(data[:1000])
        f.flush()
        raise OSError("disk full")

    monkeypatch.setattr(os, "fdopen", fails_halfway)
    with pytest.raises(OSError, match="disk full"):
        blobs.put(data)
    monkeypatch.undo()
    assert not blobs.exists(digest_of(data))
    assert not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))
    assert bytes(blobs.get(blobs.put(data))) == data


def test_large_blob_hashed_while_written_lands_once(tmp_path: Path) -> None:
    blobs = LocalBlobStore(str(tmp_path / "blobs"))
    data = np.random.default_rng(0).random(PARALLEL_PUT_BYTES // 8 + 1000)
    digest = blobs.put(data)
    assert digest == digest_of(memoryview(data).cast("B"))
    assert blobs.put(data) == digest  # the second write finds it and drops its staging file
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert files == [blobs.path(digest)]
    assert files[0].stat().st_mode & 0o777 == 0o444
    assert bytes(blobs.get(digest)) == data.tobytes()


def test_one_flipped_bit_in_a_large_compressed_blob_is_caught(tmp_path: Path) -> None:
    blobs = LocalBlobStore(str(tmp_path / "blobs"))
    arr = np.random.default_rng(1).integers(0, 1000, 20_000_000)
    enc = encode(arr)
    assert enc.meta["layout"] == "blosc2" and len(enc.data) > PARALLEL_PUT_BYTES
    digest = blobs.put(enc.data)
    assert np.array_equal(decode(enc.codec, blobs.get(digest), enc.meta), arr)
    path = blobs.path(digest)
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(len(enc.data) // 2)
        byte = f.read(1)[0]
        f.seek(len(enc.data) // 2)
        f.write(bytes([byte ^ 1]))
    with pytest.raises(CorruptBlobError, match=digest):
        blobs.get(digest)


def test_store_uses_only_the_public_codecs_api() -> None:
    # store/ sits above codecs/: it may use what `cairn.codecs` exports, not its private modules.
    for source in Path(cairn.store.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                private = [p for p in parts[2:] if p.startswith("_")]
                assert not (parts[:2] == ["cairn", "codecs"] and private), (source.name, name)
