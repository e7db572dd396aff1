"""The workspace's root key pair: the private key in a file only its owner can read, the
public keys in the store, where every server finds the ones it must trust.

After a rotation the old public key stays trusted until its grace period ends, so tokens
signed with it keep working while their holders get new ones.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from biscuit_auth import KeyPair, PrivateKey, PublicKey

from cairn.atomic import write_atomically
from cairn.auth.audit import AuthAction, key_subject
from cairn.config import DIRNAME, current_user, find_root
from cairn.errors import AuthError
from cairn.store import Store, get_store, schema
from cairn.store.events import write_event

ALGORITHM = "ed25519"
KEY_FILE_ENV = "CAIRN_AUTH_KEY"  # the private key's file, for workspaces given by URLs
KEY_FILE = Path("auth") / "root.key"
PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class TrustedKey:
    public_key: str  # hex
    valid_until: float | None  # None: the current key; else the end of a rotated key's grace

    @property
    def key_id(self) -> int:
        return key_id(self.public_key)

    @property
    def biscuit_key(self) -> PublicKey:
        return PublicKey(f"{ALGORITHM}/{self.public_key}")


def key_id(public_key: str) -> int:
    """The root key id a token carries: the public key's first 32 bits, so a verifier picks
    the right key at once among the current and the rotated ones."""
    return int(public_key[:8], 16)


def key_file() -> Path:
    """Where the private key lives: $CAIRN_AUTH_KEY, else `.cairn/auth/root.key` of the
    workspace folder (the current directory's when the workspace is given by URLs)."""
    named = os.environ.get(KEY_FILE_ENV)
    if named:
        return Path(named)
    return (find_root() or Path.cwd() / DIRNAME) / KEY_FILE


def init(*, rotate: bool = False, grace: float | None = None, store: Store | None = None) -> str:
    """Create the root key pair and return its public key (hex). With `rotate`, replace the
    existing one; the old public key stays trusted `grace` seconds more (none by default)."""
    store = store or get_store()
    path = key_file()
    if path.exists() and not rotate:
        raise AuthError(
            f"a root key exists at {path}; `cairn auth init --rotate --grace 7d` replaces it "
            "and keeps the old one valid for the grace period"
        )
    pair = KeyPair()
    public = _hex(pair.public_key)
    now = time.time()
    with store.writer() as conn:
        current = _current(conn)
        if current and not rotate:
            raise AuthError(
                f"the store already trusts root key {current[0]} whose private key is not at "
                f"{path}; set {KEY_FILE_ENV} to its file, or replace it with "
                "`cairn auth init --rotate`"
            )
        if current:
            conn.execute(
                schema.auth_keys.update()
                .where(schema.auth_keys.c.public_key.in_(current))
                .values(retired=now, valid_until=now + (grace or 0.0))
            )
        conn.execute(
            schema.auth_keys.insert().values(public_key=public, algorithm=ALGORITHM, created=now)
        )
        action = AuthAction.KEY_ROTATE if current else AuthAction.KEY_INIT
        detail = {"retired": current, "grace": grace} if current else None
        write_event(conn, current_user(), action, key_subject(public), detail, ts=now)
        # Written last: if it fails, the transaction rolls back and no key is half made.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(path, str(pair.private_key), mode=PRIVATE_MODE)
    return public


def public_key(store: Store | None = None) -> str:
    """The current root public key (hex)."""
    store = store or get_store()
    with store.reader() as conn:
        current = _current(conn)
    if not current:
        raise AuthError("this workspace has no root key; create one with `cairn auth init`")
    return current[-1]


def trusted_keys(store: Store, now: float | None = None) -> list[TrustedKey]:
    """The public keys a token may be signed with at `now`: the current one and the rotated
    ones still within their grace period."""
    now = time.time() if now is None else now
    keys = schema.auth_keys
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(keys.c.public_key, keys.c.valid_until).where(
                sa.or_(keys.c.retired.is_(None), keys.c.valid_until > now)
            )
        ).all()
    return [TrustedKey(row.public_key, row.valid_until) for row in rows]


def private_key() -> PrivateKey:
    """The root private key, for signing grants."""
    path = key_file()
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise AuthError(
            f"no root private key at {path}; create one with `cairn auth init` "
            f"(or set {KEY_FILE_ENV} to its file)"
        ) from None
    try:
        return PrivateKey(text)
    except ValueError:
        raise AuthError(f"{path} does not hold an Ed25519 private key") from None


def public_of(private: PrivateKey) -> str:
    return _hex(KeyPair.from_private_key(private).public_key)


def _current(conn: sa.Connection) -> list[str]:
    keys = schema.auth_keys
    query = sa.select(keys.c.public_key).where(keys.c.retired.is_(None)).order_by(keys.c.created)
    return list(conn.execute(query).scalars())


def _hex(key: PublicKey) -> str:
    return str(key).removeprefix(f"{ALGORITHM}/")
