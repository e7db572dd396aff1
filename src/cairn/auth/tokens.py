"""Tokens: granted by the root key, narrowed offline by anyone who holds one, revoked by id.

A grant is a Biscuit whose first block, signed with the root key, names the subject, its
rights, an expiry check and, optionally, how many times it may be delegated. `attenuate`
appends a block with checks (a right the request must match, an earlier expiry) that every
verifier enforces: a block can only take away.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from biscuit_auth import (
    Biscuit,
    BiscuitBuilder,
    BiscuitValidationError,
    BlockBuilder,
    PublicKey,
    UnverifiedBiscuit,
)

from cairn.auth.audit import AuthAction, token_subject
from cairn.auth.blocks import Block, read_chain
from cairn.auth.durations import parse_duration
from cairn.auth.keys import (
    ALGORITHM,
    TrustedKey,
    key_id,
    private_key,
    public_of,
    trusted_keys,
)
from cairn.auth.rights import UNQUOTABLE, Right, uncovered
from cairn.config import current_user
from cairn.errors import AuthError, InvalidValueError
from cairn.store import Store, get_store, schema
from cairn.store.database import dialect_insert
from cairn.store.events import write_event

MAX_SUBJECT_LENGTH = 255
_REVOCATION_ID = re.compile(r"[0-9a-f]{128}")
EXPIRY_CHECK = "check if time($time), $time <= {expires}"


@dataclass(frozen=True)
class TokenInfo:
    """What `inspect` shows about a token."""

    subject: str
    subjects: tuple[str, ...]  # the grant's subject, then each delegate's
    blocks: tuple[Block, ...]
    expires: float | None
    remaining_depth: int | None
    revocation_ids: tuple[str, ...]
    revoked: bool
    trusted: bool  # signed by a key this workspace trusts now
    problems: tuple[str, ...]


def grant(
    subject: str,
    rights: Iterable[Right | str],
    ttl: float | str,
    delegate_depth: int | None = None,
    *,
    store: Store | None = None,
) -> str:
    """A token for `subject` allowing `rights` for `ttl` (seconds, or e.g. "30d"), signed with
    the root key; delegable `delegate_depth` times (without bound if None)."""
    subject = _check_subject(subject)
    wanted = _rights(rights)
    if not wanted:
        raise InvalidValueError("a grant needs at least one right, e.g. predict:model/digits")
    depth = _check_depth(delegate_depth)
    expires = _expiry(time.time(), ttl)
    builder = BiscuitBuilder("subject({subject});", {"subject": subject})
    _declare_rights(builder, wanted)
    if depth is not None:
        builder.add_code("delegate_depth({depth});", {"depth": depth})
    builder.add_code(EXPIRY_CHECK + ";", {"expires": expires})
    root = private_key()
    builder.set_root_key_id(key_id(public_of(root)))
    token = builder.build(root)
    store = store or get_store()
    with store.writer() as conn:
        detail = {
            "subject": subject,
            "rights": [str(r) for r in wanted],
            "expires": expires.timestamp(),
            "delegate_depth": depth,
        }
        write_event(
            conn, current_user(), AuthAction.GRANT, token_subject(token.revocation_ids[0]), detail
        )
    return token.to_base64()


def attenuate(
    token: str,
    rights: Iterable[Right | str] | None = None,
    ttl: float | str | None = None,
    subject: str | None = None,
    delegate_depth: int | None = None,
    *,
    public_key: str | None = None,
    store: Store | None = None,
) -> str:
    """`token` narrowed to `rights`, a shorter life, a new subject or less delegation depth;
    the result can do no more than `token`. No private key is needed: the token's signature
    is checked with `public_key` (hex; by default the workspace's trusted keys)."""
    parsed = _verified(token, public_key, store)
    chain = read_chain(parsed)
    if chain.problems:
        raise AuthError(f"the token cannot be trusted: {'; '.join(chain.problems)}")
    remaining = chain.remaining_depth
    if remaining == 0:
        raise AuthError(f"the token of {chain.subject} may not be delegated any further")
    wanted = _rights(rights or ())
    depth = _check_depth(delegate_depth)
    if not (wanted or ttl is not None or subject is not None or depth is not None):
        raise InvalidValueError(
            "say how to narrow the token: --allow a right, a shorter --ttl, a --subject "
            "or a --delegate-depth"
        )
    wider = uncovered(wanted, chain.rights)
    if wider:
        raise InvalidValueError(
            f"the token does not grant {', '.join(map(str, wider))}; it grants "
            f"{', '.join(map(str, chain.rights))}, and attenuation can only narrow"
        )
    if depth is not None and remaining is not None and depth > remaining - 1:
        raise InvalidValueError(
            f"the token may be delegated {remaining - 1} more time(s) after this; "
            f"--delegate-depth must be at most that"
        )
    block = BlockBuilder("")
    if subject is not None:
        block.add_code("subject({subject});", {"subject": _check_subject(subject)})
    if wanted:
        _declare_rights(block, wanted)
        block.add_code(_rights_check(wanted), _rights_params(wanted))
    if depth is not None:
        block.add_code("delegate_depth({depth});", {"depth": depth})
    if ttl is not None:
        expires = _expiry(time.time(), ttl)
        if chain.expires is not None and expires.timestamp() > chain.expires:
            left = chain.expires - time.time()
            raise InvalidValueError(
                f"--ttl outlives the token, which expires in {max(left, 0):.0f} s; "
                "attenuation can only shorten its life"
            )
        block.add_code(EXPIRY_CHECK + ";", {"expires": expires})
    return parsed.append(block).to_base64()


def inspect(token: str, *, store: Store | None = None) -> TokenInfo:
    """What `token` says, whether this workspace trusts its signature, and whether it is
    revoked. Reading needs no key."""
    parsed = _unverified(token)
    chain = read_chain(parsed)
    store = store or get_store()
    revoked = _revoked(store, chain.revocation_ids)
    return TokenInfo(
        subject=chain.subject,
        subjects=chain.subjects,
        blocks=chain.blocks,
        expires=chain.expires,
        remaining_depth=chain.remaining_depth,
        revocation_ids=chain.revocation_ids,
        revoked=bool(revoked),
        trusted=_trusted(token, store),
        problems=chain.problems,
    )


def revoke(token_or_id: str, reason: str | None = None, *, store: Store | None = None) -> str:
    """Revoke a token (or the token a revocation id names) and every token made from it by
    attenuation; returns the revocation id stored. A token's own id is its last block's:
    the token it was attenuated from stays valid."""
    text = token_or_id.strip()
    subject = None
    if _REVOCATION_ID.fullmatch(text):
        revocation_id = text
    else:
        chain = read_chain(_unverified(text))
        revocation_id, subject = chain.revocation_ids[-1], chain.subject
    now = time.time()
    actor = current_user()
    store = store or get_store()
    with store.writer() as conn:
        row = {
            "revocation_id": revocation_id,
            "ts": now,
            "actor": actor,
            "subject": subject,
            "reason": reason,
        }
        conn.execute(dialect_insert(conn, schema.revocations).values(row).on_conflict_do_nothing())
        detail = {"token_subject": subject, "reason": reason}
        write_event(conn, actor, AuthAction.REVOKE, token_subject(revocation_id), detail, ts=now)
    return revocation_id


def _revoked(store: Store, ids: Iterable[str]) -> list[str]:
    column = schema.revocations.c.revocation_id
    with store.reader() as conn:
        return list(conn.execute(sa.select(column).where(column.in_(list(ids)))).scalars())


def _verified(token: str, public_key: str | None, store: Store | None) -> Biscuit:
    """`token` with its signature checked: Biscuit appends blocks only to a checked token."""
    root_id = _unverified(token).root_key_id()
    if public_key is not None:
        keys = [TrustedKey(_check_public_key(public_key), None)]
    else:
        keys = [k for k in trusted_keys(store or get_store()) if k.key_id == root_id]
    for key in keys:
        try:
            return Biscuit.from_base64(token.strip(), key.biscuit_key)
        except BiscuitValidationError:
            continue
    raise AuthError(
        "the token is not signed by "
        + ("that public key" if public_key else "a key this workspace trusts")
        + "; pass the issuing workspace's key with --public-key (`cairn auth public-key`)"
    )


def _trusted(token: str, store: Store) -> bool:
    try:
        _verified(token, None, store)
    except AuthError:
        return False
    return True


def _check_public_key(text: str) -> str:
    key = text.strip().removeprefix(f"{ALGORITHM}/")
    try:
        PublicKey(f"{ALGORITHM}/{key}")
    except ValueError:
        raise InvalidValueError(f"{text!r} is not an Ed25519 public key in hex") from None
    return key


def _unverified(token: str) -> UnverifiedBiscuit:
    try:
        return UnverifiedBiscuit.from_base64(token.strip())
    except (BiscuitValidationError, ValueError, TypeError) as exc:
        raise AuthError(f"not a token: {exc}") from None


def _declare_rights(builder: BiscuitBuilder | BlockBuilder, rights: tuple[Right, ...]) -> None:
    for right in rights:
        builder.add_code(
            "right({operation}, {kind}, {pattern}, {regex});",
            {
                "operation": right.operation.value,
                "kind": right.kind.value,
                "pattern": right.pattern,
                "regex": right.regex,
            },
        )


def _rights_check(rights: tuple[Right, ...]) -> str:
    """A check that the request matches one of `rights`."""
    bodies = (
        f"operation($op), resource($kind, $name), $op == {{op{i}}}, $kind == {{kind{i}}}, "
        f"$name.matches({{regex{i}}})"
        for i in range(len(rights))
    )
    return "check if " + " or ".join(bodies) + ";"


def _rights_params(rights: tuple[Right, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for i, right in enumerate(rights):
        params |= {
            f"op{i}": right.operation.value,
            f"kind{i}": right.kind.value,
            f"regex{i}": right.regex,
        }
    return params


def _rights(rights: Iterable[Right | str]) -> tuple[Right, ...]:
    if isinstance(rights, str):
        rights = [rights]
    parsed = (r if isinstance(r, Right) else Right.parse(r) for r in rights)
    return tuple(dict.fromkeys(parsed))


def _expiry(now: float, ttl: float | str) -> dt.datetime:
    # Biscuit dates are whole seconds: round down, so a token never lives longer than asked.
    return dt.datetime.fromtimestamp(int(now + parse_duration(ttl)), dt.timezone.utc)


def _check_subject(subject: str) -> str:
    if (
        not isinstance(subject, str)
        or not subject.strip()
        or len(subject) > MAX_SUBJECT_LENGTH
        or not subject.isprintable()
        or any(c in subject for c in UNQUOTABLE)
    ):
        raise InvalidValueError(
            f"subject {subject!r} must be a printable name of at most {MAX_SUBJECT_LENGTH} "
            "characters without quotes or backslashes, e.g. alice or device-7"
        )
    return subject


def _check_depth(depth: int | None) -> int | None:
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise InvalidValueError(f"delegate depth must be a whole number >= 0, got {depth!r}")
    return depth
