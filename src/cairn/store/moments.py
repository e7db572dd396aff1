"""Moments in a store's history: what `as_of=` accepts, and when the store began.

Datasets and time travel both take a moment and refuse one from before the store existed
(`store_info.created`): nothing could be recorded then, so an answer would only mislead.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cairn.errors import BeforeStoreError, InvalidValueError
from cairn.store import schema
from cairn.store.store import Store

When = dt.datetime | dt.date | float | int | str


def to_timestamp(when: When) -> float:
    """Epoch seconds for a datetime (naive = local time), a date (its end), an ISO string or
    a number."""
    if isinstance(when, bool):
        raise InvalidValueError(f"as_of must be a datetime, not {when!r}")
    if isinstance(when, int | float):
        return float(when)
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when)
        except ValueError:
            raise InvalidValueError(
                f"as_of {when!r} is not an ISO date or time (2026-11-23T14:00)"
            ) from None
    if isinstance(when, dt.datetime):
        return when.timestamp()
    if isinstance(when, dt.date):
        return dt.datetime.combine(when, dt.time.max).timestamp()
    raise InvalidValueError(
        f"as_of must be a datetime, a date, an ISO string or epoch seconds, not {when!r}"
    )


def store_created(store: Store) -> float:
    """When the store began (epoch seconds)."""
    with store.reader() as conn:
        value = conn.execute(
            sa.select(schema.store_info.c.value).where(schema.store_info.c.key == "created")
        ).scalar()
    return float(value)


def checked_timestamp(store: Store, when: When) -> float:
    """`to_timestamp(when)`, refusing a moment before the store existed."""
    ts = to_timestamp(when)
    created = store_created(store)
    if ts < created:
        began = dt.datetime.fromtimestamp(created).isoformat(timespec="seconds")
        asked = dt.datetime.fromtimestamp(ts).isoformat(timespec="seconds")
        raise BeforeStoreError(f"as_of {asked} is before this store existed (it began {began})")
    return ts
