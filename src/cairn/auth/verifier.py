"""Deciding whether a token allows a request, fast enough to sit on every request.

A decision is cached per (token, operation, kind, name) until the earliest of the token's
expiry and its signing key's end of grace. The verifier looks at the revocations and the
keys in the store at most every `poll_seconds`; when either changed, it forgets every
decision, so a revoked token is refused by every process within about that long.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from biscuit_auth import (
    AuthorizationError,
    AuthorizerBuilder,
    Biscuit,
    BiscuitValidationError,
    UnverifiedBiscuit,
)

from cairn.auth.blocks import read_chain
from cairn.auth.keys import TrustedKey, trusted_keys
from cairn.auth.rights import Operation, ResourceKind
from cairn.errors import AuthError, ForbiddenError
from cairn.store import Store, schema

POLL_SECONDS = 0.5
MAX_DECISIONS = 100_000  # past this many cached decisions, start again rather than grow
# Rights come from the first block only (Biscuit's default scope): what later blocks
# declare is ignored here, and their checks can only refuse.
POLICY = (
    "allow if operation($op), resource($kind, $name), "
    "right($op, $kind, $pattern, $regex), $name.matches($regex);"
)
# Biscuit's default (1 ms) refuses valid tokens on a busy machine now and then, and so does
# 20 ms when the process is descheduled mid-run: a run cut short is tried once more with the
# longer limit, so only a token whose checks really are that costly is refused.
DATALOG_TIME_LIMITS = (dt.timedelta(milliseconds=20), dt.timedelta(milliseconds=250))
REQUEST = "time({now}); operation({op}); resource({kind}, {name});"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token's last subject, and the chain that led to it."""

    subject: str
    subjects: tuple[str, ...]
    expires: float
    token_id: str  # the token's own revocation id


@dataclass(frozen=True)
class _Decision:
    until: float
    principal: Principal | None
    refusal: str | None  # why a valid token is forbidden this request


class Verifier:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._next_poll = -math.inf
        self._seen: tuple = ()
        self._revoked: frozenset[str] = frozenset()
        self._keys: dict[int, TrustedKey] = {}
        self._decisions: dict[tuple[str, Operation, ResourceKind, str], _Decision] = {}

    def authorize(
        self, token: str, operation: Operation, kind: ResourceKind, name: str
    ) -> Principal:
        """The principal `token` acts as, if it allows `operation` on `kind`/`name`.

        Raises AuthError for a token that cannot be trusted (malformed, forged, expired,
        revoked) and ForbiddenError for a valid token that lacks the right."""
        self._poll()
        now = self._clock()
        key = (token, operation, kind, name)
        decision = self._decisions.get(key)
        if decision is None or now >= decision.until:
            decision = self._decide(token, operation, kind, name, now)
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        if decision.principal is None:
            raise ForbiddenError(decision.refusal)
        return decision.principal

    def _decide(
        self, token: str, operation: Operation, kind: ResourceKind, name: str, now: float
    ) -> _Decision:
        biscuit, signer = self._verified(token, now)
        chain = read_chain(biscuit)
        if chain.problems:
            raise AuthError(f"the token cannot be trusted: {'; '.join(chain.problems)}")
        revoked = self._revoked.intersection(chain.revocation_ids)
        if revoked:
            raise AuthError(f"the token of {chain.subject} is revoked")
        expires = chain.expires if chain.expires is not None else math.inf
        if now >= expires:
            raise AuthError(f"the token of {chain.subject} expired at {_iso(expires)}")
        until = min(expires, signer.valid_until or math.inf)
        principal = Principal(chain.subject, chain.subjects, expires, chain.revocation_ids[-1])
        request = AuthorizerBuilder(
            REQUEST + POLICY,
            {
                "now": dt.datetime.fromtimestamp(now, dt.timezone.utc),
                "op": operation.value,
                "kind": kind.value,
                "name": name,
            },
        )
        for limit in DATALOG_TIME_LIMITS:
            limits = request.limits()
            limits.max_time = limit
            request.set_limits(limits)
            try:
                request.build(biscuit).authorize()
            except AuthorizationError as exc:
                # Biscuit raises one error type for both; a run cut short decides nothing
                # and must not be cached as a refusal.
                if "limits" in str(exc):
                    continue
                refusal = f"the token of {chain.subject} does not allow {operation}:{kind}/{name}"
                return _Decision(until, None, refusal)
            return _Decision(until, principal, None)
        raise AuthError("the token's checks ran past the verifier's limits")

    def _verified(self, token: str, now: float) -> tuple[Biscuit, TrustedKey]:
        try:
            unverified = UnverifiedBiscuit.from_base64(token)
        except (BiscuitValidationError, ValueError, TypeError):
            raise AuthError("the token is malformed: not a Biscuit in URL-safe base64") from None
        signer = self._keys.get(unverified.root_key_id())
        if signer is None or (signer.valid_until is not None and now >= signer.valid_until):
            raise AuthError("the token is not signed by a key this workspace trusts")
        try:
            return unverified.verify(signer.biscuit_key), signer
        except (BiscuitValidationError, ValueError):
            raise AuthError("the token is not signed by a key this workspace trusts") from None

    def _poll(self) -> None:
        tick = time.monotonic()
        if tick < self._next_poll:
            return
        with self._lock:
            if tick < self._next_poll:
                return
            revocations, keys = schema.revocations, schema.auth_keys
            with self._store.reader() as conn:
                seen = (
                    *conn.execute(sa.select(sa.func.count(), sa.func.max(revocations.c.ts))).one(),
                    *conn.execute(
                        sa.select(
                            sa.func.count(),
                            sa.func.max(keys.c.created),
                            sa.func.max(keys.c.retired),
                        )
                    ).one(),
                )
                if seen != self._seen:
                    ids = conn.execute(sa.select(revocations.c.revocation_id)).scalars()
                    self._revoked = frozenset(ids)
            if seen != self._seen:
                # Keys past their grace are refused by the check in _verified, by the clock.
                self._keys = {k.key_id: k for k in trusted_keys(self._store)}
                self._decisions.clear()
                self._seen = seen
            self._next_poll = time.monotonic() + self._poll_seconds


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")
