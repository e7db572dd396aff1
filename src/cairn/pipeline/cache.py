"""The step cache: key (code, inputs, params) -> the artifact holding the step's result."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.store import Store, schema
from cairn.store.database import dialect_insert
from cairn.tracking.artifacts import ArtifactRef


@dataclass
class StepSummary:
    step: str
    entries: int
    last_computed: float


def enabled() -> bool:
    """CAIRN_STEP_CACHE=off runs every step (`cairn runs reproduce` sets it: a reproduction
    must compute, not look up, what it checks)."""
    return os.environ.get("CAIRN_STEP_CACHE", "on").lower() not in ("off", "0", "false")


def lookup(store: Store, key: str) -> ArtifactRef | None:
    cache, artifacts = schema.step_cache, schema.artifacts
    with store.reader() as conn:
        row = conn.execute(
            sa.select(artifacts)
            .join(cache, cache.c.artifact_id == artifacts.c.id)
            .where(cache.c.key == key)
        ).first()
    return ArtifactRef.from_row(row) if row else None


def insert(store: Store, key: str, step: str, artifact: ArtifactRef, run_id: str) -> bool:
    """Record a result; False when another caller recorded this key first (theirs stays)."""
    with store.writer() as conn:
        inserted = conn.execute(
            dialect_insert(conn, schema.step_cache)
            .values(key=key, step=step, artifact_id=artifact.id, run_id=run_id, created=time.time())
            .on_conflict_do_nothing()
        ).rowcount
    return bool(inserted)


def summaries(store: Store) -> list[StepSummary]:
    cache = schema.step_cache
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(cache.c.step, sa.func.count(), sa.func.max(cache.c.created))
            .group_by(cache.c.step)
            .order_by(cache.c.step)
        ).all()
    return [StepSummary(*row) for row in rows]


def invalidate(store: Store, step: str) -> int:
    """Forget the cached results of `step` (its artifacts stay); returns how many."""
    with store.writer() as conn:
        return conn.execute(
            schema.step_cache.delete().where(schema.step_cache.c.step == step)
        ).rowcount
