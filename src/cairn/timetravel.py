"""`cairn.as_of`: a read-only view of the store at a moment, over runs, artifacts, datasets and
lineage (the layer above all of them)."""

from __future__ import annotations

import datetime as dt

from cairn import datasets
from cairn.errors import NotFoundError
from cairn.lineage import LineageGraph, Walk, lineage
from cairn.store import Store, get_store
from cairn.store.moments import When, checked_timestamp
from cairn.tracking.artifacts import ArtifactRef, resolve
from cairn.tracking.query import RunRecord, get_run, search_runs


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
        if version not in (None, "latest"):
            ref = datasets.get(name, version, store=self.store)
            if ref.created > self.ts:
                raise NotFoundError(f"dataset {name!r} version {version} did not exist yet")
            version_ref = ref
        else:
            version_ref = datasets.get(name, as_of=self.ts, store=self.store)
        return datasets.value_of(self.store, version_ref)

    def lineage(
        self, subject: object, direction: Walk | str = Walk.UP, depth: int | None = None
    ) -> LineageGraph:
        return lineage(subject, direction, depth, as_of=self.ts, store=self.store)


def as_of(when: When, *, store: Store | None = None) -> StoreAsOf:
    """The store as it was at `when` (a datetime; naive means local time)."""
    store = store or get_store()
    return StoreAsOf(store, checked_timestamp(store, when))
