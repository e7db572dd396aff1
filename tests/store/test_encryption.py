"""Blobs encrypted at rest (CAIRN_BLOBS_KEY): round trips, keys, tampering, rotation."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.errors import BlobKeyError, CorruptBlobError, InvalidValueError
from cairn.store import reset_store
from cairn.store.blobs import SEALED_MAGIC, LocalBlobStore, digest_of, open_blob_store
from cairn.store.encryption import (
    BlobKey,
    EncryptedBlobStore,
    KeyRing,
    Rotation,
    is_sealed,
    seal,
    unseal,
)

# The sealed format: magic, version, key id (8), segment size (4), plaintext size (8).
HEADER = len(SEALED_MAGIC) + 1 + 8 + 4 + 8
KEY_ID = slice(len(SEALED_MAGIC) + 1, len(SEALED_MAGIC) + 9)


def new_key() -> str:
    return secrets.token_hex(32)


def sealed_store(root: Path, *keys: str) -> EncryptedBlobStore:
    return EncryptedBlobStore(LocalBlobStore(str(root)), KeyRing.parse(",".join(keys)))


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_round_trip_through_cairn(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = workspace / "blobs.key"
    key_file.write_text(f"# the workspace's blob key\n{new_key()}\n")
    monkeypatch.setenv("CAIRN_BLOBS_KEY", str(key_file))
    reset_store()
    array = np.random.default_rng(0).random((300, 40))
    frame = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"] * 100, "x": np.arange(300)})
    with cairn.start_run("sealed") as run:
        run.save("weights", array)
        run.save("table", frame)
    np.testing.assert_array_equal(cairn.load("weights"), array)
    pd.testing.assert_frame_equal(cairn.load("table"), frame)
    files = stored_files(workspace / "blobs")
    assert files and all(f.read_bytes().startswith(SEALED_MAGIC) for f in files)
    assert not any(b"Oslo" in f.read_bytes() for f in files)

    monkeypatch.delenv("CAIRN_BLOBS_KEY")
    reset_store()
    with pytest.raises(BlobKeyError, match="encrypted and no key is set: set CAIRN_BLOBS_KEY"):
        cairn.load("weights")


def test_same_content_same_digest_with_and_without_encryption(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    plain = open_blob_store(str(tmp_path / "plain"))
    sealed = sealed_store(tmp_path / "sealed", new_key())
    assert sealed.put(data) == plain.put(data) == digest_of(data)
    assert sealed.put(data) == digest_of(data)  # stored once
    assert len(stored_files(tmp_path / "sealed")) == 1
    assert bytes(sealed.get(digest_of(data))) == data


def test_plaintext_appears_in_no_stored_file(tmp_path: Path) -> None:
    secret = b"the quarterly numbers nobody may read " * 50
    array = np.random.default_rng(1).integers(0, 1 << 30, 50_000)
    store = sealed_store(tmp_path / "blobs", new_key())
    for data in (secret, array, b""):
        digest = store.put(data)
        assert bytes(store.get(digest)) == bytes(memoryview(data).cast("B"))
    raw = array.tobytes()
    for path in stored_files(tmp_path / "blobs"):
        stored = path.read_bytes()
        assert b"quarterly numbers" not in stored
        assert all(raw[i : i + 32] not in stored for i in range(0, len(raw), 4096))


def test_blobs_stored_before_the_key_still_read_and_get_sealed_when_put_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "blobs"
    old, again = b"written before the key" * 100, b"saved again after the key" * 100
    plain = LocalBlobStore(str(root))
    old_digest, again_digest = plain.put(old), plain.put(again)
    store = sealed_store(root, new_key())
    assert bytes(store.get(old_digest)) == old
    assert not is_sealed(plain.read_stored(again_digest))
    assert store.put(again) == again_digest
    assert is_sealed(plain.read_stored(again_digest))
    assert bytes(store.get(again_digest)) == again
    # Plain content that happens to begin like a sealed blob is plain content.
    lookalike = SEALED_MAGIC + os.urandom(100)
    assert bytes(store.get(plain.put(lookalike))) == lookalike


def test_wrong_and_missing_key_are_clear_errors(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    key, other = new_key(), new_key()
    digest = sealed_store(root, key).put(b"payload" * 100)
    with pytest.raises(BlobKeyError, match="does not hold.*add that key to CAIRN_BLOBS_KEY"):
        sealed_store(root, other).get(digest)
    with pytest.raises(BlobKeyError, match="no key is set: set CAIRN_BLOBS_KEY"):
        LocalBlobStore(str(root)).get(digest)
    assert bytes(sealed_store(root, other, key).get(digest)) == b"payload" * 100


def test_malformed_keys_are_refused_without_echoing_them(tmp_path: Path) -> None:
    typo = new_key()[:-1]
    with pytest.raises(InvalidValueError, match="entry 2 of 2 \\(63 characters\\)") as caught:
        KeyRing.parse(f"{new_key()},{typo}")
    assert typo not in str(caught.value)
    empty = tmp_path / "empty.key"
    empty.write_text("# nothing yet\n")
    with pytest.raises(InvalidValueError, match="holds no key"):
        KeyRing.parse(str(empty))
    keys = tmp_path / "ring.key"
    first, second = new_key(), new_key()
    keys.write_text(f"{first}\n\n{second}\n")
    ring = KeyRing.parse(f"{keys},{first}")
    assert [k.id for k in ring.keys] == [
        BlobKey.parse(first, "").id,
        BlobKey.parse(second, "").id,
    ]


@pytest.mark.parametrize("where", ["ciphertext", "tag", "nonce", "header size"])
def test_a_tampered_byte_is_corruption(tmp_path: Path, where: str) -> None:
    store = sealed_store(tmp_path / "blobs", new_key())
    data = os.urandom(10_000)
    digest = store.put(data)
    path = store.inner.path(digest)
    stored = bytearray(path.read_bytes())
    offset = {"ciphertext": HEADER + 12 + 5000, "tag": len(stored) - 1, "nonce": HEADER + 3}
    offset["header size"] = HEADER - 1
    stored[offset[where]] ^= 1
    path.chmod(0o644)
    path.write_bytes(stored)
    with pytest.raises(CorruptBlobError, match=digest):
        store.get(digest)


def test_segments_cannot_be_reordered_or_dropped() -> None:
    ring = KeyRing.parse(new_key())
    data = os.urandom(3500)
    digest = digest_of(data)
    stored = seal(ring.newest, data, segment_bytes=1000)
    assert bytes(unseal(digest, memoryview(stored), ring)) == data
    segment = 1000 + 28
    first, second = slice(HEADER, HEADER + segment), slice(HEADER + segment, HEADER + 2 * segment)
    swapped = bytearray(stored)
    swapped[first], swapped[second] = stored[second], stored[first]
    with pytest.raises(CorruptBlobError, match="AES-GCM tag"):
        unseal(digest, memoryview(swapped), ring)
    with pytest.raises(CorruptBlobError, match="size does not match"):
        unseal(digest, memoryview(stored[:-segment]), ring)


ROTATE_AND_REPORT = """
import sys
from cairn.store.blobs import LocalBlobStore
from cairn.store.encryption import KeyRing, rotate

old, new, root = sys.argv[1:]
for digest, outcome in rotate(LocalBlobStore(root), KeyRing.parse(new).newest, KeyRing.parse(old)):
    print(digest, outcome, flush=True)
"""


def test_rotation_killed_midway_then_rerun_loses_nothing(workspace: Path) -> None:
    root = workspace / "blobs"
    old, new = new_key(), new_key()
    rng = np.random.default_rng(2)
    contents = [rng.bytes(200_000) for _ in range(150)]
    store = sealed_store(root, old)
    plain = LocalBlobStore(str(root))
    digests = [store.put(data) for data in contents[:100]] + [plain.put(d) for d in contents[100:]]

    child = subprocess.Popen(
        [sys.executable, "-c", ROTATE_AND_REPORT, old, new, str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported = [child.stdout.readline() for _ in range(20)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert all(line.split()[1] == Rotation.ROTATED for line in reported)
    new_id = BlobKey.parse(new, "").id
    under_new = [plain.read_stored(d)[KEY_ID] == new_id for d in digests]
    assert 20 <= sum(under_new) < len(digests)  # killed midway
    # Meanwhile every blob reads with the old and the new key together.
    midway = sealed_store(root, new, old)
    assert all(bytes(midway.get(d)) == data for d, data in zip(digests, contents, strict=True))

    result = subprocess.run(
        [sys.executable, "-m", "cairn", "auth", "rotate-blob-key", "--new-key", new],
        capture_output=True,
        text=True,
        env={**os.environ, "CAIRN_BLOBS_KEY": old, "COLUMNS": "200"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{150 - sum(under_new)} rotated, {sum(under_new)} current, 0 corrupt" in result.stdout
    after = sealed_store(root, new)
    assert sorted(d for d, _ in after.digests()) == sorted(digests)
    assert all(bytes(after.get(d)) == data for d, data in zip(digests, contents, strict=True))
    with pytest.raises(BlobKeyError, match="does not hold"):
        sealed_store(root, old).get(digests[0])
