"""The audit log: one row per change, written by the caller in the change's own transaction.

An event says who (`actor`), when, what (`action`, an enum of the layer that acts), on what
(`subject`, e.g. "model/digits" or "model/digits/3") and, in `detail`, the state before and
after and anything else the action needs to be understood later.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import Enum

import sqlalchemy as sa

from cairn.store import schema


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    actor: str | None
    action: str
    subject: str
    detail: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_row(cls, row: sa.Row) -> Event:
        detail = json.loads(row.detail) if row.detail else {}
        return cls(row.id, row.ts, row.actor, row.action, row.subject, detail)


def write_event(
    conn: sa.Connection,
    actor: str,
    action: Enum,
    subject: str,
    detail: dict | None = None,
    *,
    ts: float | None = None,
) -> Event:
    """Record one event on `conn`; the caller's transaction makes it part of the change."""
    ts = time.time() if ts is None else ts
    text = json.dumps(detail, sort_keys=True, default=str) if detail else None
    event_id = conn.execute(
        schema.events.insert().values(
            ts=ts, actor=actor, action=action.value, subject=subject, detail=text
        )
    ).inserted_primary_key[0]
    return Event(event_id, ts, actor, action.value, subject, detail or {})


def read_events(
    conn: sa.Connection,
    *subjects: str,
    prefix: str | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[Event]:
    """Events about `subjects` (exactly) or about any subject starting with `prefix`, oldest
    first, after event `after_id`."""
    events = schema.events
    wanted = [events.c.subject.in_(subjects)] if subjects else []
    if prefix is not None:
        wanted.append(events.c.subject.startswith(prefix, autoescape=True))
    query = sa.select(events).where(events.c.id > after_id).order_by(events.c.id)
    if wanted:
        query = query.where(sa.or_(*wanted))
    if limit is not None:
        query = query.limit(limit)
    return [Event.from_row(row) for row in conn.execute(query)]
