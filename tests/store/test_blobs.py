"""Blob stores: content addressing, atomic writes, integrity on read; local and S3."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn.errors import CorruptBlobError, NotFoundError
from cairn.store.blobs import LocalBlobStore, digest_of, open_blob_store


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


def test_local_write_is_atomic_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = LocalBlobStore(str(tmp_path / "blobs"))
    data = os.urandom(1_000_000)
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
