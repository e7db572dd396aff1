"""Reads for comparing many runs at once: which runs, and one param or metric of each.

Each read takes a list of run ids (thousands, for a scatter of a whole experiment) and asks
the database 500 ids at a time, so that an IN list stays within SQLite's variable limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import sqlalchemy as sa

from cairn.errors import NotFoundError
from cairn.states import TextEnum
from cairn.store import Store, get_store, schema
from cairn.tracking.filter import is_number
from cairn.tracking.query import get_run

CHUNK = 500


class Pick(TextEnum):
    """Which one value of a metric's history stands for a run."""

    LAST = "last"
    MIN = "min"
    MAX = "max"


def resolve_runs(refs: list[str], *, store: Store | None = None) -> list[str]:
    """The full ids of the runs `refs` name, in their order, each once: a full id is
    looked up with the others in one query, anything else as `get_run` takes it (the
    start or end of an id). An unknown one is a NotFoundError."""
    store = store or get_store()
    wanted = list(dict.fromkeys(ref.strip().upper() for ref in refs))
    runs = schema.runs
    known: set[str] = set()
    with store.reader() as conn:
        for chunk in _chunks(wanted):
            known.update(conn.execute(sa.select(runs.c.id).where(runs.c.id.in_(chunk))).scalars())
    found = [ref if ref in known else get_run(ref, store=store).id for ref in wanted]
    return list(dict.fromkeys(found))


def experiment_runs(experiment: str, *, limit: int, store: Store | None = None) -> list[str]:
    """The ids of up to `limit` runs of `experiment`, oldest first; NotFoundError for an
    experiment that does not exist."""
    store = store or get_store()
    runs, experiments = schema.runs, schema.experiments
    with store.reader() as conn:
        experiment_id = conn.execute(
            sa.select(experiments.c.id).where(experiments.c.name == experiment)
        ).scalar()
        if experiment_id is None:
            raise NotFoundError(
                f"no experiment {experiment!r} in {store.description}; "
                "`cairn runs ls` lists the runs and their experiments"
            )
        query = (
            sa.select(runs.c.id)
            .where(runs.c.experiment_id == experiment_id)
            .order_by(runs.c.started, runs.c.id)
            .limit(limit)
        )
        return list(conn.execute(query).scalars())


def values_at_step(
    run_ids: list[str], key: str, step: int | None, *, store: Store | None = None
) -> dict[str, tuple[int, float]]:
    """{run: (step, value)}: metric `key`'s last value at or before `step` (the one logged
    last at the greatest such step; with no step, at the greatest step), for each run that
    has one. NaN reads as NaN."""
    store = store or get_store()
    found: dict[str, tuple[int, float]] = {}
    with store.reader() as conn:
        for chunk in _chunks(run_ids):
            for run_id, at, value in conn.execute(_at_step(chunk, key, step)):
                found[run_id] = (at, _nan(value))
    return found


def _at_step(run_ids: list[str], key: str, step: int | None) -> sa.Select:
    """(run, step, value) of `values_at_step`. Correlated subqueries: the greatest step is
    an index seek per run, and its value a look at that step's few rows, where ranking
    every row of every run would read them all."""
    m, runs = schema.metrics, schema.runs
    bounded = [] if step is None else [m.c.step <= step]
    greatest = (
        sa.select(sa.func.max(m.c.step))
        .where(m.c.run_id == runs.c.id, m.c.key == key, *bounded)
        .scalar_subquery()
    )
    steps = (
        sa.select(runs.c.id.label("run_id"), greatest.label("step"))
        .where(runs.c.id.in_(run_ids))
        .subquery()
    )
    at = m.alias()
    value = (
        sa.select(at.c.value)
        .where(at.c.run_id == steps.c.run_id, at.c.key == key, at.c.step == steps.c.step)
        .order_by(at.c.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.select(steps.c.run_id, steps.c.step, value).where(steps.c.step.is_not(None))


def metric_values(
    run_ids: list[str], key: str, pick: Pick = Pick.LAST, *, store: Store | None = None
) -> dict[str, float]:
    """{run: value} of metric `key`: its latest value, or the least or greatest in its
    history (NaN left out), for each run that logged it."""
    store = store or get_store()
    if pick is Pick.LAST:
        table = schema.latest_metrics
        value: sa.ColumnElement = table.c.value
    else:
        table = schema.metrics
        number = sa.case((is_number(table.c.value), table.c.value))  # NaN left out (PostgreSQL)
        value = (sa.func.min if pick is Pick.MIN else sa.func.max)(number)
    found: dict[str, float] = {}
    with store.reader() as conn:
        for chunk in _chunks(run_ids):
            query = sa.select(table.c.run_id, value).where(
                table.c.run_id.in_(chunk), table.c.key == key
            )
            if pick is not Pick.LAST:
                query = query.group_by(table.c.run_id)
            found.update((run_id, _nan(v)) for run_id, v in conn.execute(query))
    return found


def param_values(run_ids: list[str], key: str, *, store: Store | None = None) -> dict[str, object]:
    """{run: value} of param `key`, for each run that has it."""
    store = store or get_store()
    p = schema.params
    found: dict[str, object] = {}
    with store.reader() as conn:
        for chunk in _chunks(run_ids):
            query = sa.select(p.c.run_id, p.c.value).where(p.c.run_id.in_(chunk), p.c.key == key)
            found.update((run_id, json.loads(text)) for run_id, text in conn.execute(query))
    return found


def keys_of(run_ids: list[str], *, store: Store | None = None) -> tuple[list[str], list[str]]:
    """(param keys, metric keys) that any of the runs has, each sorted."""
    store = store or get_store()
    params: set[str] = set()
    metrics: set[str] = set()
    with store.reader() as conn:
        for chunk in _chunks(run_ids):
            for table, keys in ((schema.params, params), (schema.latest_metrics, metrics)):
                keys.update(
                    conn.execute(
                        sa.select(table.c.key).where(table.c.run_id.in_(chunk)).distinct()
                    ).scalars()
                )
    return sorted(params), sorted(metrics)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
