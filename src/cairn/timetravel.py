"""Points in time: what `as_of=` accepts, and when a store began."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cairn.errors import CairnError, NotFoundError
from cairn.lineage import LineageGraph, lineage
from cairn.store import Store, get_store, schema
from cairn.tracking.artifacts import ArtifactRef, resolve
from cairn.tracking.query import RunRecord, get_run, search_runs


class BeforeStoreError(CairnError, ValueError):
    """An `as_of` earlier than the store's first record."""


def to_timestamp(when: dt.datetime | dt.date | float | int | str) -> float:
    """Epoch seconds for a datetime (naive = local time), a date, an ISO string or a number."""
    if isinstance(when, bool):
        raise CairnError(f"as_of must be a datetime, not {when!r}")
    if isinstance(when, int | float):
        return float(when)
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when)
        except ValueError:
            raise CairnError(
                f"as_of {when!r} is not an ISO date or time (2026-11-23T14:00)"
            ) from None
    if isinstance(when, dt.datetime):
        return when.timestamp()
    if isinstance(when, dt.date):
        return dt.datetime.combine(when, dt.time.max).timestamp()
    raise CairnError(
        f"as_of must be a datetime, a date, an ISO string or epoch seconds, not {when!r}"
    )


def store_created(store: Store) -> float:
    with store.reader() as conn:
        value = conn.execute(
            sa.select(schema.store_info.c.value).where(schema.store_info.c.key == "created")
        ).scalar()
    return float(value)


def checked_timestamp(store: Store, when: dt.datetime | dt.date | float | int | str) -> float:
    """`to_timestamp(when)`, refusing a time before the store existed."""
    ts = to_timestamp(when)
    created = store_created(store)
    if ts < created:
        began = dt.datetime.fromtimestamp(created).isoformat(timespec="seconds")
        asked = dt.datetime.fromtimestamp(ts).isoformat(timespec="seconds")
        raise BeforeStoreError(f"as_of {asked} is before this store existed (it began {began})")
    return ts


class StoreAsOf:
    """A read-only view of the store as it was at one moment: runs (with the status and
    metrics they had then), artifacts, dataset versions and lineage. Nothing through it
    writes, not even the lineage edge a `load` inside a run would record."""

    def __init__(self, store: Store, ts: float) -> None:
        self.store = store
        self.ts = ts

    def __repr__(self) -> str:
        return f"<cairn.as_of {dt.datetime.fromtimestamp(self.ts).isoformat(timespec='seconds')}>"

    def get_run(self, run_id: str) -> RunRecord:
        return get_run(run_id, store=self.store, as_of=self.ts)

    def search_runs(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        order_by: str | list[str] | None = None,
        *,
        limit: int | None = None,
    ) -> list[RunRecord]:
        return search_runs(
            experiment, filter, order_by, limit=limit, store=self.store, as_of=self.ts
        )

    def load(self, ref: ArtifactRef | str) -> object:
        artifact = resolve(self.store, ref, as_of=self.ts)
        return self.store.get_value(artifact.digest)

    def load_dataset(self, name: str, version: int | str | None = None) -> object:
        from cairn import datasets

        if version not in (None, "latest"):
            ref = datasets.get(name, version, store=self.store)
            if ref.created > self.ts:
                raise NotFoundError(f"dataset {name!r} version {version} did not exist yet")
            version_ref = ref
        else:
            version_ref = datasets.get(name, as_of=self.ts, store=self.store)
        return datasets.value_of(self.store, version_ref)

    def lineage(
        self, subject: object, direction: str = "up", depth: int | None = None
    ) -> LineageGraph:
        return lineage(subject, direction, depth, as_of=self.ts, store=self.store)


def as_of(
    when: dt.datetime | dt.date | float | int | str, *, store: Store | None = None
) -> StoreAsOf:
    """The store as it was at `when` (a datetime; naive means local time)."""
    store = store or get_store()
    return StoreAsOf(store, checked_timestamp(store, when))
