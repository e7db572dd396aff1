"""Blobs sealed at rest: AES-256-GCM under random nonces, with keys from CAIRN_BLOBS_KEY.

CAIRN_BLOBS_KEY holds keys, newest first, separated by commas. Each entry is either 64 hex
characters (a 256-bit key: `openssl rand -hex 32`) or the path of a key file holding such keys
one a line, newest first (blank lines and lines starting with `#` are skipped). New blobs are
sealed under the newest key; every key listed can read. A key's id is derived from the key
(BLAKE3 key derivation), so a blob names the key it needs without revealing it.

A sealed blob keeps its name, the BLAKE3 digest of its plaintext, so the same content is still
stored once and lineage is unchanged. On disk:

    SEALED_MAGIC | version (1 byte) | key id (8) | segment size (4) | plaintext size (8)
    then per segment: nonce (12, random) | ciphertext | GCM tag (16)

One AES-GCM call takes less than 2 GiB, so larger blobs are cut into segments. Each segment
authenticates the whole header and its own index as associated data: a changed byte anywhere,
a truncated, reordered or mismatched segment fails its tag (CorruptBlobError). A read then
checks the decrypted bytes against the digest, which catches a sealed blob moved to another
name. Blobs stored before a key was set still read: they do not begin with SEALED_MAGIC.

`rotate` re-seals every blob under a new key, one blob at a time, each replaced atomically, so
a rotation killed at any moment leaves each blob readable under its old key or the new one; a
rerun skips the blobs already under the new key (it reads their header only).
"""

from __future__ import annotations

import errno
import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cairn.codecs import CopyOnWriteMap
from cairn.errors import BlobKeyError, CorruptBlobError, InvalidValueError, NotFoundError
from cairn.states import TextEnum
from cairn.store.blobs import (
    KEY_VARIABLE,
    SEALED_MAGIC,
    Buffer,
    RawBlobStore,
    checked,
    digest_of,
)

FORMAT_VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
# Under AES-GCM's 2**31 - 1 bytes per call in `cryptography`; 100 MB blobs are one segment.
SEGMENT_BYTES = 1 << 30
_HEADER = struct.Struct(f"!{len(SEALED_MAGIC)}sB{KEY_ID_BYTES}sIQ")
_KEY_ID_END = len(SEALED_MAGIC) + 1 + KEY_ID_BYTES  # how much of a header names its key
_INDEX = struct.Struct("!Q")
_OVERHEAD = NONCE_BYTES + TAG_BYTES  # per segment
_KEY_ID_CONTEXT = "cairn blob key id v1"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class BlobKey:
    id: bytes
    cipher: AESGCM

    @classmethod
    def from_secret(cls, secret: bytes) -> BlobKey:
        key_id = blake3.blake3(secret, derive_key_context=_KEY_ID_CONTEXT).digest(KEY_ID_BYTES)
        return cls(key_id, AESGCM(secret))

    @classmethod
    def parse(cls, text: str, origin: str) -> BlobKey:
        """The key written as 64 hex characters in `text`; `origin` says where, for errors
        (which never repeat the text: it may be a mistyped key)."""
        if not _HEX_KEY.fullmatch(text):
            raise InvalidValueError(
                f"{origin} ({len(text)} characters) is not a key: a key is 64 hex characters "
                "(32 random bytes, e.g. `openssl rand -hex 32`)"
            )
        return cls.from_secret(bytes.fromhex(text))


class KeyRing:
    """Blob keys, newest first: the newest seals, any of them opens."""

    def __init__(self, keys: Sequence[BlobKey]) -> None:
        if not keys:
            raise InvalidValueError(f"{KEY_VARIABLE} holds no key")
        by_id: dict[bytes, BlobKey] = {}
        for key in keys:
            by_id.setdefault(key.id, key)
        self.keys = list(by_id.values())

    @property
    def newest(self) -> BlobKey:
        return self.keys[0]

    def find(self, key_id: bytes) -> BlobKey | None:
        return next((key for key in self.keys if key.id == key_id), None)

    @classmethod
    def parse(cls, value: str) -> KeyRing:
        """The keys of a CAIRN_BLOBS_KEY value (see the module's docstring)."""
        keys = []
        entries = [entry.strip() for entry in value.split(",")]
        for number, entry in enumerate(entries, 1):
            origin = f"{KEY_VARIABLE} entry {number} of {len(entries)}"
            keys.extend(keys_in(entry, origin))
        return cls(keys)


def keys_in(entry: str, origin: str) -> list[BlobKey]:
    """The key `entry` spells in hex, or the keys of the key file it names."""
    if _HEX_KEY.fullmatch(entry):
        return [BlobKey.parse(entry, origin)]
    path = Path(entry).expanduser()
    if not path.is_file():
        raise InvalidValueError(
            f"{origin} ({len(entry)} characters) is neither a key (64 hex characters) nor the "
            "path of a key file"
        )
    lines = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1)]
    keys = [
        BlobKey.parse(line, f"line {n} of key file {path}")
        for n, line in lines
        if line and not line.startswith("#")
    ]
    if not keys:
        raise InvalidValueError(f"key file {path} holds no key: write one (64 hex characters)")
    return keys


def seal(key: BlobKey, plaintext: Buffer, segment_bytes: int = SEGMENT_BYTES) -> bytearray:
    """`plaintext` encrypted under `key`, with its header: the bytes a sealed blob stores."""
    view = memoryview(plaintext).cast("B")
    size = view.nbytes
    header = _HEADER.pack(SEALED_MAGIC, FORMAT_VERSION, key.id, segment_bytes, size)
    out = bytearray(len(header) + _segment_count(size, segment_bytes) * _OVERHEAD + size)
    out[: len(header)] = header
    target = memoryview(out)
    at = len(header)
    for index, start in enumerate(_segment_starts(size, segment_bytes)):
        chunk = view[start : start + segment_bytes]
        nonce = os.urandom(NONCE_BYTES)
        target[at : at + NONCE_BYTES] = nonce
        at += NONCE_BYTES
        end = at + chunk.nbytes + TAG_BYTES
        key.cipher.encrypt_into(nonce, chunk, header + _INDEX.pack(index), target[at:end])
        at = end
    return out


def _segment_count(size: int, segment_bytes: int) -> int:
    return max(1, -(-size // segment_bytes))  # an empty blob is one empty, tagged segment


def _segment_starts(size: int, segment_bytes: int) -> range:
    return range(0, max(size, 1), segment_bytes)


def is_sealed(stored: Buffer) -> bool:
    return memoryview(stored)[: len(SEALED_MAGIC)] == SEALED_MAGIC


def unseal(digest: str, stored: memoryview, keys: KeyRing) -> memoryview:
    """The plaintext of the sealed blob `stored`, checked against `digest`, read-only.
    A private anonymous map holds it, so decoders may alias it writably without a copy."""
    if len(stored) < _HEADER.size:
        raise CorruptBlobError(digest, "it is shorter than a sealed blob's header")
    header = stored[: _HEADER.size].tobytes()
    _, version, key_id, segment_bytes, size = _HEADER.unpack(header)
    if version != FORMAT_VERSION:
        raise CorruptBlobError(digest, f"sealed in format {version}, which this cairn cannot read")
    key = keys.find(key_id)
    if key is None:
        held = ", ".join(key.id.hex() for key in keys.keys)
        raise BlobKeyError(
            f"blob {digest} is encrypted under key id {key_id.hex()}, which {KEY_VARIABLE} does "
            f"not hold (it holds key id {held}): add that key to {KEY_VARIABLE} (newest first, "
            "separated by commas)"
        )
    if segment_bytes == 0 or len(stored) != (
        _HEADER.size + _segment_count(size, segment_bytes) * _OVERHEAD + size
    ):
        raise CorruptBlobError(digest, "its size does not match its sealed header")
    plaintext = CopyOnWriteMap(-1, size) if size else bytearray()
    target = memoryview(plaintext)
    at = _HEADER.size
    try:
        for index, start in enumerate(_segment_starts(size, segment_bytes)):
            length = min(segment_bytes, size - start)
            nonce = stored[at : at + NONCE_BYTES]
            at += NONCE_BYTES
            sealed = stored[at : at + length + TAG_BYTES]
            at += length + TAG_BYTES
            aad = header + _INDEX.pack(index)
            key.cipher.decrypt_into(nonce, sealed, aad, target[start : start + length])
    except InvalidTag:
        raise CorruptBlobError(
            digest, "its ciphertext fails authentication (AES-GCM tag)"
        ) from None
    return checked(digest, target)


class Rotation(TextEnum):
    """What rotating one blob did."""

    ROTATED = "rotated"  # re-sealed (or sealed for the first time) under the new key
    CURRENT = "current"  # already under the new key: a rerun's blobs done before
    CORRUPT = "corrupt"  # unreadable as stored: left as it is
    GONE = "gone"  # deleted (by gc) while the rotation ran


class EncryptedBlobStore:
    """A blob store that seals every blob it writes and reads sealed and plain ones."""

    def __init__(self, inner: RawBlobStore, keys: KeyRing) -> None:
        self.inner = inner
        self.keys = keys
        self.url = inner.url

    def put(self, data: Buffer) -> str:
        view = memoryview(data).cast("B")
        digest = digest_of(view)
        if not self._sealed(digest):  # absent, or stored in plain before the key was set
            self.inner.write_stored(digest, seal(self.keys.newest, view))
        return digest

    def get(self, digest: str) -> memoryview:
        stored = self.inner.read_stored(digest)
        if not is_sealed(stored):
            return checked(digest, stored)
        try:
            return unseal(digest, stored, self.keys)
        except (BlobKeyError, CorruptBlobError):
            # Plain content that happens to begin like a sealed blob is still plain content.
            if digest_of(stored) == digest:
                return stored.toreadonly()
            raise

    def exists(self, digest: str) -> bool:
        return self.inner.exists(digest)

    def delete(self, digest: str) -> None:
        self.inner.delete(digest)

    def digests(self) -> Iterator[tuple[str, float]]:
        return self.inner.digests()

    def _sealed(self, digest: str) -> bool:
        try:
            return is_sealed(self._head(digest, len(SEALED_MAGIC)))
        except NotFoundError:
            return False

    def _head(self, digest: str, end: int) -> memoryview:
        """The first `end` stored bytes of `digest` (fewer if it is shorter)."""
        try:
            return self.inner.read_stored(digest, end=end)
        except OSError as exc:
            # S3 refuses any byte range of an empty object (416, which s3fs raises as
            # EINVAL): read the whole object, which is empty or fails the same way again.
            if exc.errno != errno.EINVAL:
                raise
            return self.inner.read_stored(digest)[:end]

    def reseal(self, digest: str) -> Rotation:
        """Seal the blob `digest` under the newest key unless it already is."""
        try:
            head = self._head(digest, _KEY_ID_END)
            if is_sealed(head) and head[len(SEALED_MAGIC) + 1 :] == self.keys.newest.id:
                return Rotation.CURRENT
            plaintext = self.get(digest)
        except NotFoundError:
            return Rotation.GONE
        except CorruptBlobError:
            return Rotation.CORRUPT
        self.inner.write_stored(digest, seal(self.keys.newest, plaintext))
        return Rotation.ROTATED


def rotate(
    inner: RawBlobStore, new: BlobKey, old: KeyRing | None
) -> Iterator[tuple[str, Rotation]]:
    """Re-seal every blob of `inner` under `new`, reading with `new` and the `old` keys;
    yields each digest with what was done. Blobs under a key neither holds raise BlobKeyError."""
    store = EncryptedBlobStore(inner, KeyRing([new, *(old.keys if old else [])]))
    # Listed first: the rotation replaces files in the folders it would be walking.
    for digest, _ in list(inner.digests()):
        yield digest, store.reseal(digest)
