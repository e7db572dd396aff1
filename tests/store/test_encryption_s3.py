"""Blobs encrypted at rest in an S3 bucket (moto's server): what the bucket holds, read raw
with boto3, reveals no plaintext; keys, deduplication and rotation work as on a folder."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.errors import BlobKeyError
from cairn.store import reset_store
from cairn.store.blobs import SEALED_MAGIC, FsspecBlobStore, digest_of
from cairn.store.encryption import BlobKey, EncryptedBlobStore, KeyRing, Rotation, rotate

pytestmark = pytest.mark.s3

# The sealed header: magic, version (1 byte), then the key id (8 bytes).
KEY_ID = slice(len(SEALED_MAGIC) + 1, len(SEALED_MAGIC) + 9)


def new_key() -> str:
    return secrets.token_hex(32)


class Bucket:
    """The bucket behind a blob store URL, read and listed raw through boto3."""

    def __init__(self, url: str, endpoint: str) -> None:
        import boto3

        self.name, _, self.prefix = url.removeprefix("s3://").partition("/")
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=self.prefix + "/")
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def objects(self) -> dict[str, bytes]:
        return {key: self.read(key) for key in self.keys()}

    def of(self, digest: str) -> bytes:
        return self.read(f"{self.prefix}/{digest[:2]}/{digest[2:]}")


@pytest.fixture
def bucket(s3_url: str, s3_endpoint: str) -> Bucket:
    return Bucket(s3_url, s3_endpoint)


@pytest.fixture
def sealed_workspace(s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A workspace whose blobs are on S3, sealed under the key it yields."""
    key = new_key()
    monkeypatch.setenv("CAIRN_STORE", f"sqlite:///{tmp_path / 'cairn.db'}")
    monkeypatch.setenv("CAIRN_BLOBS", s3_url)
    monkeypatch.setenv("CAIRN_BLOBS_KEY", key)
    monkeypatch.chdir(tmp_path)
    reset_store()
    yield key
    reset_store()


def sealed_store(url: str, *keys: str) -> EncryptedBlobStore:
    return EncryptedBlobStore(FsspecBlobStore(url), KeyRing.parse(",".join(keys)))


def test_the_bucket_holds_no_plaintext_and_values_round_trip(
    sealed_workspace: str, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    array = np.random.default_rng(0).random((300, 40))
    frame = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"] * 100, "x": np.arange(300)})
    secret = b"the quarterly numbers nobody may read " * 50
    with cairn.start_run("sealed") as run:
        run.save("weights", array)
        run.save("table", frame)
        run.save("memo", secret)
    np.testing.assert_array_equal(cairn.load("weights"), array)
    pd.testing.assert_frame_equal(cairn.load("table"), frame)
    assert cairn.load("memo") == secret

    objects = bucket.objects()
    assert len(objects) >= 3
    raw = array.tobytes()
    for key, stored in objects.items():
        assert stored.startswith(SEALED_MAGIC), key
        assert b"Oslo" not in stored and b"quarterly numbers" not in stored
        assert all(raw[i : i + 32] not in stored for i in range(0, len(raw), 4096))

    monkeypatch.delenv("CAIRN_BLOBS_KEY")
    reset_store()
    with pytest.raises(BlobKeyError, match="encrypted and no key is set: set CAIRN_BLOBS_KEY"):
        cairn.load("weights")


def test_same_content_is_one_object_under_its_plaintext_digest(s3_url: str, bucket: Bucket) -> None:
    data = os.urandom(200_000)
    key = new_key()
    store = sealed_store(s3_url, key)
    digest = store.put(data)
    assert digest == digest_of(data)
    first = bucket.of(digest)
    assert store.put(data) == digest
    # Another writer, under another key, finds the object sealed and leaves it as it is.
    assert sealed_store(s3_url, new_key(), key).put(data) == digest
    assert bucket.keys() == [f"{bucket.prefix}/{digest[:2]}/{digest[2:]}"]
    assert bucket.of(digest) == first  # not sealed again under a new nonce
    assert bytes(store.get(digest)) == data


def test_wrong_and_missing_key_are_clear_errors(s3_url: str) -> None:
    key, other = new_key(), new_key()
    digest = sealed_store(s3_url, key).put(b"payload" * 100)
    with pytest.raises(BlobKeyError, match="does not hold.*add that key to CAIRN_BLOBS_KEY"):
        sealed_store(s3_url, other).get(digest)
    with pytest.raises(BlobKeyError, match="no key is set: set CAIRN_BLOBS_KEY"):
        FsspecBlobStore(s3_url).get(digest)
    assert bytes(sealed_store(s3_url, other, key).get(digest)) == b"payload" * 100


def test_blobs_stored_before_the_key_read_and_are_sealed_when_put_again(
    s3_url: str, bucket: Bucket
) -> None:
    plain = FsspecBlobStore(s3_url)
    contents = [b"written before the key" * 100, b"", b"tiny"]
    digests = [plain.put(data) for data in contents]
    store = sealed_store(s3_url, new_key())
    for digest, data in zip(digests, contents, strict=True):
        assert bytes(store.get(digest)) == data
        assert store.put(data) == digest
        assert bucket.of(digest).startswith(SEALED_MAGIC)
        assert bytes(store.get(digest)) == data


def run_rotation(new: str, old: str) -> subprocess.CompletedProcess:
    """`cairn auth rotate-blob-key --new-key NEW` in a child, with CAIRN_BLOBS_KEY=OLD: the
    workspace (and the moto endpoint) from this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "cairn", "auth", "rotate-blob-key", "--new-key", new],
        capture_output=True,
        text=True,
        env={**os.environ, "CAIRN_BLOBS_KEY": old, "COLUMNS": "200"},
        timeout=120,
    )


def test_rotating_the_key_reseals_every_object(
    sealed_workspace: str, s3_url: str, bucket: Bucket
) -> None:
    old, new = sealed_workspace, new_key()
    rng = np.random.default_rng(3)
    contents = [rng.bytes(50_000) for _ in range(12)] + [b""]
    store = sealed_store(s3_url, old)
    plain = FsspecBlobStore(s3_url)
    # Four stored before the key was set, the empty blob among them.
    digests = [store.put(data) for data in contents[:9]] + [plain.put(d) for d in contents[9:]]
    before = bucket.objects()

    # Stopped after five blobs, as an interrupted rotation is: each blob reads with the old
    # key and the new one together, whichever it is under.
    rotation = rotate(plain, BlobKey.parse(new, ""), KeyRing.parse(old))
    done = [next(rotation) for _ in range(5)]
    rotation.close()
    assert all(outcome is Rotation.ROTATED for _, outcome in done)
    midway = sealed_store(s3_url, new, old)
    assert all(bytes(midway.get(d)) == data for d, data in zip(digests, contents, strict=True))

    result = run_rotation(new, old)
    assert result.returncode == 0, result.stderr
    assert f"{len(digests) - 5} rotated, 5 current, 0 corrupt, 0 gone" in result.stdout
    after = bucket.objects()
    assert sorted(after) == sorted(before)
    new_id = BlobKey.parse(new, "").id
    for key, stored in after.items():
        assert stored[KEY_ID] == new_id and stored != before[key], key
    assert all(bytes(sealed_store(s3_url, new).get(d)) == data
               for d, data in zip(digests, contents, strict=True))  # fmt: skip
    for digest in digests:
        with pytest.raises(BlobKeyError, match="does not hold"):
            sealed_store(s3_url, old).get(digest)
    # A rerun finds every object done and reads only their headers.
    rerun = run_rotation(new, old)
    assert f"0 rotated, {len(digests)} current" in rerun.stdout, rerun.stderr
    assert bucket.objects() == after
