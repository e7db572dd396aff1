"""A metric's history made small enough to draw, without losing its spikes.

A chart needs at most a few thousand points, and a run can log millions. Thinning by taking
every n-th point drops exactly the outliers a person looks for, so the steps are cut into
equal buckets and each bucket keeps its mean, its minimum and its maximum (W&B's "full
fidelity" mode does the same). The bucketing runs in the database: a million rows never
leave it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import InvalidValueError
from cairn.store import Store, get_store, schema
from cairn.tracking.filter import is_number

MAX_POINTS = 2_000
LIMIT = 20_000  # more points than this a browser should not be sent for one series
CHUNK = 500  # run ids in one IN list: within SQLite's variable limit


@dataclass(frozen=True)
class Series:
    key: str
    steps: list[int]
    values: list[float]  # the bucket's mean where downsampled
    mins: list[float]
    maxs: list[float]
    count: int  # values logged
    downsampled: bool

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "step": self.steps,
            "value": self.values,
            "min": self.mins,
            "max": self.maxs,
            "count": self.count,
            "downsampled": self.downsampled,
        }


def metric_series(
    run_id: str, key: str, *, max_points: int = MAX_POINTS, store: Store | None = None
) -> Series:
    """The history of metric `key` of run `run_id`: every value if there are at most
    `max_points`, else `max_points` buckets of steps, each its first step, mean, min and max.
    NaN values read as NaN, and are left out of a bucket's statistics."""
    _check(max_points)
    store = store or get_store()
    m = schema.metrics
    mine = (m.c.run_id == run_id, m.c.key == key)
    with store.reader() as conn:
        # The first max_points + 1 values tell whether to bucket (and are the series if not)
        # without counting a million rows; the last step is an index seek.
        head = conn.execute(
            sa.select(m.c.step, m.c.value)
            .where(*mine)
            .order_by(m.c.step, m.c.ts)
            .limit(max_points + 1)
        ).all()
        if len(head) <= max_points:
            values = [_nan(r.value) for r in head]
            return Series(key, [r.step for r in head], values, values, values, len(head), False)
        low = head[0].step
        high = conn.execute(sa.select(sa.func.max(m.c.step)).where(*mine)).scalar_one()
        span = high - low + 1
        summary = sa.select(sa.func.min(m.c.step), *_statistics(), sa.func.count()).where(*mine)
        if conn.dialect.name == "sqlite":
            # SQLite groups by an expression through a sort of every row (0.7 s for a million
            # here); a range query a bucket reads the index in step order instead (0.4 s).
            # PostgreSQL hashes the groups, and would pay a round trip a bucket.
            step, first, after = m.c.step, sa.bindparam("first"), sa.bindparam("after")
            by_range = summary.where(step >= first, step < after)
            edges = [low + -(-b * span // max_points) for b in range(max_points + 1)]
            rows = [
                row
                for row in (
                    conn.execute(by_range, {"first": a, "after": b}).one()
                    for a, b in itertools.pairwise(edges)
                )
                if row[4]  # an empty bucket, as GROUP BY leaves it out
            ]
        else:
            bucket = _bucket(low, span, max_points)
            rows = conn.execute(summary.group_by(bucket).order_by(bucket)).all()
    return Series(
        key,
        [r[0] for r in rows],
        [_nan(r[1]) for r in rows],
        [_nan(r[2]) for r in rows],
        [_nan(r[3]) for r in rows],
        sum(r[4] for r in rows),
        True,
    )


@dataclass(frozen=True)
class RunCurve:
    """One run's values on an `AlignedSeries`' steps: NaN where it logged nothing."""

    values: list[float]
    mins: list[float]
    maxs: list[float]


@dataclass(frozen=True)
class AlignedSeries:
    """Metric `key` of many runs on one shared list of steps, so that their curves can be
    drawn on one chart: each run's values of a bucket land at the bucket's first step."""

    key: str
    steps: list[int]
    runs: dict[str, RunCurve]  # only runs that logged `key`
    downsampled: bool

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "step": self.steps,
            "runs": {
                run_id: {"value": c.values, "min": c.mins, "max": c.maxs}
                for run_id, c in self.runs.items()
            },
            "downsampled": self.downsampled,
        }


def aligned_series(
    run_ids: list[str], key: str, *, max_points: int = MAX_POINTS, store: Store | None = None
) -> AlignedSeries:
    """Metric `key` of each of `run_ids` on at most `max_points` shared steps: each step
    as it is while the runs' steps together span no more than `max_points`, else that
    span cut into `max_points` equal buckets, each run keeping a bucket's mean, min and
    max (so a spike of any run stays visible). Two values of one run at one step are
    averaged. Runs are read 500 at a time, so any number of them stays within SQLite's
    variable limit."""
    _check(max_points)
    store = store or get_store()
    m, runs = schema.metrics, schema.runs
    chunks = [run_ids[i : i + CHUNK] for i in range(0, len(run_ids), CHUNK)]
    mine = (m.c.run_id == runs.c.id, m.c.key == key)
    # Each run's first and last step as correlated subqueries: an index seek each, where
    # min and max over all the runs' rows would read every one of them.
    first = sa.select(sa.func.min(m.c.step)).where(*mine).scalar_subquery()
    last = sa.select(sa.func.max(m.c.step)).where(*mine).scalar_subquery()
    with store.reader() as conn:
        spans = [
            span
            for chunk in chunks
            for span in conn.execute(
                sa.select(first, last).where(runs.c.id.in_(chunk), first.is_not(None))
            ).all()
        ]
        if not spans:
            return AlignedSeries(key, [], {}, False)
        low, high = min(low for low, _ in spans), max(high for _, high in spans)
        span = high - low + 1
        buckets = min(span, max_points)
        bucket = _bucket(low, span, buckets)
        rows = [
            row
            for chunk in chunks
            for row in conn.execute(
                sa.select(m.c.run_id, bucket, *_statistics())
                .where(m.c.run_id.in_(chunk), m.c.key == key)
                .group_by(m.c.run_id, bucket)
            ).all()  # fetched at once: a row at a time costs more than the query with 1,000 runs
        ]
    used = sorted({row[1] for row in rows})
    at = {b: i for i, b in enumerate(used)}
    nan = math.nan
    curves: dict[str, RunCurve] = {}
    for run_id, b, mean, low_value, high_value in rows:
        curve = curves.get(run_id)
        if curve is None:
            curve = curves[run_id] = RunCurve(
                [nan] * len(used), [nan] * len(used), [nan] * len(used)
            )
        if mean is not None:  # else a bucket of NaN only: NaN it stays
            i = at[b]
            curve.values[i], curve.mins[i], curve.maxs[i] = mean, low_value, high_value
    # A bucket's first step: the least step s with (s - low) * buckets // span == b.
    steps = [low + -(-b * span // buckets) for b in used]
    ordered = {run_id: curves[run_id] for run_id in run_ids if run_id in curves}
    return AlignedSeries(key, steps, ordered, span > max_points)


def _check(max_points: int) -> None:
    if not 2 <= max_points <= LIMIT:
        raise InvalidValueError(f"max_points must be between 2 and {LIMIT}, not {max_points}")


def _bucket(low: int, span: int, buckets: int) -> sa.ColumnElement[int]:
    """The bucket of a step, floor((step - low) * buckets / span), in 0 .. buckets - 1: integer
    arithmetic in both SQLite and PostgreSQL."""
    step = schema.metrics.c.step
    return ((step - low) * buckets // span).label("bucket")


def _statistics() -> tuple[sa.ColumnElement, ...]:
    """A bucket's mean, min and max over its numbers: NaN is NULL on SQLite, which aggregates
    skip, but a NaN on PostgreSQL, which would win every max and poison every mean."""
    value = schema.metrics.c.value
    number = sa.case((is_number(value), value))
    return sa.func.avg(number), sa.func.min(number), sa.func.max(number)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
