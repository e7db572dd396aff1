"""Webhooks: who is told about alias moves and new versions, and the outbox of what to tell them.

A change that should be announced writes its deliveries (`enqueue`) in its own transaction,
right after its audit event, so a delivery exists exactly when the change does and survives
a crash as a row. Sending is `cairn.models.delivery`'s job; nothing here touches the network.

A removed hook keeps its row, marked `removed`, because its deliveries (their outcomes are
history) refer to it.
"""

from __future__ import annotations

import json
import secrets
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from cairn.errors import InvalidValueError, NotFoundError
from cairn.models import audit
from cairn.models.audit import Action
from cairn.states import TextEnum
from cairn.store import Store, get_store, schema
from cairn.store.events import Event

SECRET_MAX_CHARS = 128  # the width of hooks.secret


class HookEvent(TextEnum):
    """What a hook can be told about."""

    ALIAS = "alias"  # an alias was set, moved or deleted
    VERSION = "version"  # a model version was registered


class DeliveryStatus(TextEnum):
    PENDING = "pending"  # not sent yet, or failed and waiting for its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up: too many failed attempts, or the hook was removed


@dataclass(frozen=True)
class Hook:
    id: int
    url: str
    events: frozenset[HookEvent]
    created: float


@dataclass(frozen=True)
class Delivery:
    id: int
    hook_id: int
    event_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt: float
    response: int | None  # the last HTTP status the receiver answered
    error: str | None  # why the last attempt failed
    updated: float


def add_hook(
    url: str,
    events: Iterable[HookEvent | str] = (HookEvent.ALIAS, HookEvent.VERSION),
    *,
    secret: str | None = None,
    store: Store | None = None,
) -> tuple[Hook, str]:
    """Subscribe `url` to `events` ("alias", "version"; a comma-separated string works too).

    Returns the hook and its secret, the HMAC-SHA256 key each delivery is signed with
    (generated unless given). Show the secret to whoever runs the receiver now: it is not
    shown again.
    """
    _check_url(url)
    kinds = parse_events(events)
    if secret is None:
        secret = secrets.token_hex(32)
    elif not isinstance(secret, str) or not secret or len(secret) > SECRET_MAX_CHARS:
        raise InvalidValueError(
            f"a hook secret must be 1 to {SECRET_MAX_CHARS} characters: give another, "
            "or none to have one generated"
        )
    store = store or get_store()
    created = time.time()
    with store.writer() as conn:
        hook_id = conn.execute(
            schema.hooks.insert().values(
                url=url, events=_events_text(kinds), secret=secret, created=created
            )
        ).inserted_primary_key[0]
        hook = Hook(hook_id, url, kinds, created)
        audit.record(conn, Action.HOOK_ADD, audit.HOOKS_SUBJECT, after=_described(hook))
    return hook, secret


def remove_hook(hook_id: int, *, store: Store | None = None) -> Hook:
    """Unsubscribe hook `hook_id`; its deliveries not yet sent are given up."""
    store = store or get_store()
    hooks, deliveries_ = schema.hooks, schema.hook_deliveries
    with store.writer() as conn:
        row = conn.execute(
            sa.select(hooks).where(hooks.c.id == hook_id, hooks.c.removed.is_(None))
        ).first()
        if row is None:
            raise NotFoundError(f"no hook {hook_id}: `cairn models hooks ls` lists them")
        hook = _hook(row)
        now = time.time()
        conn.execute(hooks.update().where(hooks.c.id == hook_id).values(removed=now))
        conn.execute(
            deliveries_.update()
            .where(
                deliveries_.c.hook_id == hook_id,
                deliveries_.c.status == DeliveryStatus.PENDING.value,
            )
            .values(status=DeliveryStatus.FAILED.value, error="hook removed", updated=now)
        )
        audit.record(conn, Action.HOOK_REMOVE, audit.HOOKS_SUBJECT, before=_described(hook))
    return hook


def list_hooks(*, store: Store | None = None) -> list[Hook]:
    """The hooks in force, oldest first."""
    store = store or get_store()
    hooks = schema.hooks
    with store.reader() as conn:
        rows = conn.execute(sa.select(hooks).where(hooks.c.removed.is_(None)).order_by(hooks.c.id))
        return [_hook(row) for row in rows]


def enqueue(conn: sa.Connection, event: Event, kind: HookEvent, payload: dict) -> list[int]:
    """Write one pending delivery of `event` to each hook subscribed to `kind`, on `conn`,
    inside the transaction of the change `event` records. Returns the deliveries' ids.

    The body is serialized here once, and exactly these bytes are signed and sent: the event
    (`event`, `action`, `subject`, `actor`, `ts`, `event_id`) and `payload`'s keys.
    """
    kind = HookEvent(kind)
    hooks = schema.hooks
    rows = conn.execute(sa.select(hooks.c.id, hooks.c.events).where(hooks.c.removed.is_(None)))
    subscribed = [row.id for row in rows if kind in _events_of(row.events)]
    if not subscribed:
        return []
    body = json.dumps(
        {
            "event": kind.value,
            "action": event.action,
            "subject": event.subject,
            "actor": event.actor,
            "ts": event.ts,
            "event_id": event.id,
            **payload,
        },
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    now = time.time()
    table = schema.hook_deliveries
    inserted = conn.execute(
        table.insert().returning(table.c.id, sort_by_parameter_order=True),
        [
            {
                "hook_id": hook_id,
                "event_id": event.id,
                "payload": body,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt": now,
                "updated": now,
            }
            for hook_id in subscribed
        ],
    )
    return list(inserted.scalars())


def deliveries(
    *,
    hook_id: int | None = None,
    status: DeliveryStatus | str | None = None,
    limit: int = 100,
    store: Store | None = None,
) -> list[Delivery]:
    """The latest deliveries (newest first), of one hook and in one status if asked."""
    store = store or get_store()
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidValueError(f"limit must be a whole number >= 1, got {limit!r}")
    table = schema.hook_deliveries
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
    if hook_id is not None:
        query = query.where(table.c.hook_id == hook_id)
    if status is not None:
        query = query.where(table.c.status == _status(status).value)
    with store.reader() as conn:
        return [
            Delivery(
                row.id,
                row.hook_id,
                row.event_id,
                DeliveryStatus(row.status),
                row.attempts,
                row.next_attempt,
                row.response,
                row.error,
                row.updated,
            )
            for row in conn.execute(query)
        ]


def parse_events(events: Iterable[HookEvent | str]) -> frozenset[HookEvent]:
    """The events named by `events` (members, names, or one comma-separated string)."""
    known = ", ".join(kind.value for kind in HookEvent)
    if isinstance(events, str):
        names: list[object] = events.split(",")
    elif isinstance(events, Iterable):
        names = list(events)
    else:
        raise InvalidValueError(
            f"events are names ({known}) in a list or one comma-separated string, got {events!r}"
        )
    kinds = set()
    for name in names:
        if not isinstance(name, str):  # members are str too
            raise InvalidValueError(f"a hook event is a name ({known}), got {name!r}")
        try:
            kinds.add(HookEvent(name.strip()))
        except ValueError:
            raise InvalidValueError(f"unknown hook event {name!r}: choose from {known}") from None
    if not kinds:
        raise InvalidValueError(f"a hook needs at least one event: choose from {known}")
    return frozenset(kinds)


def _check_url(url: str) -> None:
    if isinstance(url, str) and any(
        c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url
    ):
        raise InvalidValueError(
            f"webhook URL {url!r} contains whitespace or a control character: give the URL "
            "alone, with spaces percent-encoded (%20)"
        )
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port = parts and parts.port  # a port that is not a number from 0 to 65535 raises
    except ValueError:
        parts = port = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise InvalidValueError(
            f"webhook URL {url!r} is not an http(s) URL: give an http:// or https:// URL with "
            "a host (and a port from 1 to 65535 if any), e.g. https://example.com/cairn-hook"
        )


def _status(status: DeliveryStatus | str) -> DeliveryStatus:
    try:
        return DeliveryStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in DeliveryStatus)
        raise InvalidValueError(
            f"unknown delivery status {status!r}: choose from {known}"
        ) from None


def _events_text(kinds: frozenset[HookEvent]) -> str:
    return ",".join(sorted(kind.value for kind in kinds))


def _events_of(text: str) -> frozenset[HookEvent]:
    return frozenset(HookEvent(name) for name in text.split(",") if name)


def _hook(row: sa.Row) -> Hook:
    return Hook(row.id, row.url, _events_of(row.events), row.created)


def _described(hook: Hook) -> dict:
    return {"id": hook.id, "url": hook.url, "events": sorted(kind.value for kind in hook.events)}
