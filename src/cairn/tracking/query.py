"""Reading runs back: one run, or many by experiment, filter and order.

Reads write nothing: a run whose process is gone reads as `crashed` by the rule in
`liveness`, which only a writer's start and `cairn gc` store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.errors import NotFoundError
from cairn.states import RunStatus
from cairn.store import Store, get_store, schema
from cairn.tracking import liveness
from cairn.tracking.artifacts import ArtifactRef
from cairn.tracking.filter import (
    ATTRIBUTES,
    OrderKey,
    attribute_order,
    is_number,
    param_text,
    parse_filter,
    parse_order,
    text_order,
)
from cairn.tracking.liveness import Liveness


@dataclass
class RunRecord:
    id: str
    name: str
    experiment: str
    status: RunStatus
    started: float
    ended: float | None
    parent_id: str | None
    user: str | None
    host: str | None
    command: str | None
    code_ref: str | None
    env_ref: str | None
    error: str | None
    params: dict[str, object] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # latest value of each
    tags: dict[str, str] = field(default_factory=dict)
    store: Store | None = field(default=None, repr=False)
    as_of: float | None = field(default=None, repr=False)  # set on time-travel views

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    def metric_history(self, key: str) -> list[tuple[int, float, float]]:
        """(step, value, ts) of every logged value of `key`, in step order."""
        table = schema.metrics
        with self._store().reader() as conn:
            rows = conn.execute(
                sa.select(table.c.step, table.c.value, table.c.ts)
                .where(table.c.run_id == self.id, table.c.key == key, *self._until(table))
                .order_by(table.c.step, table.c.ts)
            ).all()
        return [(r.step, _nan_if_null(r.value), r.ts) for r in rows]

    def artifacts(self) -> list[ArtifactRef]:
        table = schema.artifacts
        with self._store().reader() as conn:
            rows = conn.execute(
                sa.select(table)
                .where(table.c.run_id == self.id, *self._until(table, "created"))
                .order_by(table.c.id)
            ).all()
        return [ArtifactRef.from_row(r) for r in rows]

    def _until(self, table: sa.Table, column: str = "ts") -> list:
        return [] if self.as_of is None else [table.c[column] <= self.as_of]

    def code(self) -> dict | None:
        return self._json_blob(self.code_ref)

    def environment(self) -> dict | None:
        return self._json_blob(self.env_ref)

    def _json_blob(self, digest: str | None) -> dict | None:
        return None if digest is None else self._store().get_value(digest)

    def _store(self) -> Store:
        return self.store or get_store()


def get_run(run_id: str, *, store: Store | None = None, as_of: float | None = None) -> RunRecord:
    """The run with id `run_id`, or the one run whose id starts or ends with it."""
    store = store or get_store()
    run_id = run_id.strip().upper()
    found = _load(store, [schema.runs.c.id == run_id], limit=1, as_of=as_of)
    if not found and len(run_id) >= 4:
        runs = schema.runs
        matches = sa.or_(
            runs.c.id.startswith(run_id, autoescape=True),
            runs.c.id.endswith(run_id, autoescape=True),
        )
        found = _load(store, [matches], limit=2, as_of=as_of)
    if len(found) != 1:
        raise NotFoundError(
            f"no run {run_id!r} in {store.description} (or more than one "
            "matches); `cairn runs ls` lists runs"
        )
    return found[0]


def search_runs(
    experiment: str | None = None,
    filter: str | None = None,
    order_by: str | list[str] | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
    store: Store | None = None,
    as_of: float | None = None,
) -> list[RunRecord]:
    """Runs matching `filter`, newest first unless `order_by` says otherwise.

    order_by: "metrics.acc desc", "params.C", "tags.team", "attributes.started asc" (or
    MLflow's "start_time asc", "attributes.run_name"...), or a list of them; a key may be
    quoted (metrics.`val acc`). Runs without the key come last;
    a metric's NaN comes after its numbers; params order numbers before text, and `desc`
    reverses that.
    limit, offset: one page of them (the UI's runs table).
    as_of: epoch seconds; the runs as they were then (see `cairn.as_of`).
    """
    store = store or get_store()
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    return _load(
        store,
        _in_experiment(experiment),
        filter,
        [parse_order(o) for o in orders],
        limit=limit,
        offset=offset,
        as_of=as_of,
    )


def load_runs(run_ids: list[str], *, store: Store | None = None) -> list[RunRecord]:
    """The runs with these full ids (as `resolve_runs` gives them), in that order."""
    store = store or get_store()
    found = {
        run.id: run
        for start in range(0, len(run_ids), 500)
        for run in _load(store, [schema.runs.c.id.in_(run_ids[start : start + 500])])
    }
    return [found[run_id] for run_id in run_ids if run_id in found]


def count_runs(
    experiment: str | None = None,
    filter: str | None = None,
    *,
    store: Store | None = None,
    as_of: float | None = None,
) -> int:
    """How many runs `search_runs` with the same arguments finds (without a limit)."""
    store = store or get_store()
    with store.reader() as conn:
        query, _ = _select(conn, store, _in_experiment(experiment), filter, [], as_of)
        return conn.execute(
            sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()


def metric_ranges(
    run_ids: list[str], keys: list[str] | None = None, *, store: Store | None = None
) -> dict[str, dict[str, tuple[float, float]]]:
    """{run: {key: (min, max)}} over each metric's whole history; NaN is left out, and a
    metric that was only ever NaN reads (nan, nan)."""
    store = store or get_store()
    m = schema.metrics
    found: dict[str, dict[str, tuple[float, float]]] = {}
    with store.reader() as conn:
        for start in range(0, len(run_ids), 500):
            where = [m.c.run_id.in_(run_ids[start : start + 500])]
            if keys is not None:
                where.append(m.c.key.in_(keys))
            query = (
                sa.select(m.c.run_id, m.c.key, sa.func.min(m.c.value), sa.func.max(m.c.value))
                .where(*where)
                .group_by(m.c.run_id, m.c.key)
            )
            for run_id, key, low, high in conn.execute(query):
                found.setdefault(run_id, {})[key] = (_nan_if_null(low), _nan_if_null(high))
    return found


def _in_experiment(experiment: str | None) -> list[sa.ColumnElement[bool]]:
    if experiment is None:
        return []
    experiments = schema.experiments
    named = sa.select(experiments.c.id).where(experiments.c.name == experiment)
    return [schema.runs.c.experiment_id.in_(named.scalar_subquery())]


def latest_metrics_as_of(ts: float) -> sa.Subquery:
    """(run_id, key, value, step) of each metric's last value logged at or before `ts`."""
    m = schema.metrics
    rank = sa.func.row_number().over(
        partition_by=(m.c.run_id, m.c.key), order_by=(m.c.step.desc(), m.c.ts.desc())
    )
    ranked = (
        sa.select(m.c.run_id, m.c.key, m.c.value, m.c.step, rank.label("rank"))
        .where(m.c.ts <= ts)
        .subquery()
    )
    return (
        sa.select(ranked.c.run_id, ranked.c.key, ranked.c.value, ranked.c.step)
        .where(ranked.c.rank == 1)
        .subquery("latest_as_of")
    )


def _attributes(live: Liveness, as_of: float | None) -> dict[str, sa.ColumnElement]:
    """The attribute columns as a reader sees them: a run whose process is gone reads as
    crashed, and, in a view of the past, a run that ended later was still running."""
    runs = schema.runs
    columns = {name: runs.c[name] for name in ATTRIBUTES}
    status, ended = live.status(), live.ended()
    if as_of is not None:
        over = ended <= as_of
        status = sa.case((over, status), else_=RunStatus.RUNNING.value)
        ended = sa.case((over, ended), else_=sa.null())
    return {**columns, "status": status, "ended": ended}


def _sort_columns(
    key: OrderKey,
    columns: dict[str, sa.ColumnElement],
    latest: sa.FromClause,
    dialect: str,
) -> tuple[sa.FromClause | None, list[sa.ColumnElement]]:
    """What to outer-join (a run's row of params, metrics or tags, if any) and the columns
    to sort by for one order_by key. Flags (0, else 1) put missing values last either way."""
    section, name = key.field.section, key.field.name

    def way(column: sa.ColumnElement) -> sa.ColumnElement:
        return column.desc() if key.descending else column.asc()

    def last_unless(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.case((condition, 0), else_=1)  # a NULL condition counts as false

    if section == "attributes":
        column = attribute_order(name, columns, dialect)
        return None, [last_unless(column.is_not(None)), way(column)]
    table = {"params": schema.params, "tags": schema.tags, "metrics": latest}[section].alias()
    joined = (table, sa.and_(table.c.run_id == schema.runs.c.id, table.c.key == name))
    missing = last_unless(table.c.run_id.is_not(None))
    if section == "metrics":
        value = table.c.value
        return joined, [missing, last_unless(is_number(value)), way(value)]
    if section == "tags":
        return joined, [missing, way(text_order(table.c.value, dialect))]
    # Params: numbers (by value) before text (by code point); desc reverses both.
    text = text_order(param_text(table, dialect), dialect)
    numbers_first = last_unless(table.c.num.is_not(None))
    return joined, [missing, way(numbers_first), way(table.c.num), way(text)]


def _select(
    conn: sa.Connection,
    store: Store,
    conditions: list[sa.ColumnElement[bool]],  # on `runs` alone
    filter: str | None,
    orders: list[OrderKey],
    as_of: float | None,
) -> tuple[sa.Select, sa.FromClause]:
    """The query for the runs matching, in order, and the latest-metrics table it read."""
    runs, experiments = schema.runs, schema.experiments
    latest = schema.latest_metrics if as_of is None else latest_metrics_as_of(as_of)
    conditions = [*conditions] if as_of is None else [*conditions, runs.c.started <= as_of]
    columns = _attributes(liveness.observe(conn, *conditions), as_of)
    if filter:
        conditions.append(
            parse_filter(filter, dialect=store.dialect, latest=latest, attributes=columns)
        )
    source = runs.join(experiments, experiments.c.id == runs.c.experiment_id)
    sort = []
    for key in orders:
        joined, sort_columns = _sort_columns(key, columns, latest, store.dialect)
        if joined is not None:
            source = source.outerjoin(*joined)
        sort.extend(sort_columns)
    query = (
        sa.select(
            *(c for c in runs.c if c.name not in ("status", "ended")),
            columns["status"].label("status"),
            columns["ended"].label("ended"),
            experiments.c.name.label("experiment"),
        )
        .select_from(source)
        .where(*conditions)
        .order_by(*sort, runs.c.started.desc(), runs.c.id.desc())
    )
    return query, latest


def _load(
    store: Store,
    conditions: list[sa.ColumnElement[bool]],  # on `runs` alone
    filter: str | None = None,
    orders: list[OrderKey] | None = None,
    limit: int | None = None,
    offset: int = 0,
    as_of: float | None = None,
) -> list[RunRecord]:
    with store.reader() as conn:
        query, latest = _select(conn, store, conditions, filter, orders or [], as_of)
        query = query.limit(limit).offset(offset or None)
        rows = conn.execute(query).all()
        ids = [r.id for r in rows]
        params = _by_run(conn, schema.params, ids, lambda r: json.loads(r.value))
        metrics = _by_run(conn, latest, ids, lambda r: _nan_if_null(r.value))
        tags = _by_run(conn, schema.tags, ids, lambda r: r.value)
    return [
        RunRecord(
            id=r.id,
            name=r.name,
            experiment=r.experiment,
            status=RunStatus(r.status),
            started=r.started,
            ended=r.ended,
            parent_id=r.parent_id,
            user=r.user,
            host=r.host,
            command=r.command,
            code_ref=r.code_ref,
            env_ref=r.env_ref,
            error=r.error,
            params=params.get(r.id, {}),
            metrics=metrics.get(r.id, {}),
            tags=tags.get(r.id, {}),
            store=store,
            as_of=as_of,
        )
        for r in rows
    ]


def _by_run(conn: sa.Connection, table: sa.FromClause, ids: list[str], convert) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for start in range(0, len(ids), 500):  # keep IN lists within SQLite's variable limit
        chunk = ids[start : start + 500]
        for row in conn.execute(sa.select(table).where(table.c.run_id.in_(chunk))):
            found.setdefault(row.run_id, {})[row.key] = convert(row)
    return found


def _nan_if_null(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    runs: int
    last_started: float | None


def list_experiments(*, store: Store | None = None) -> list[ExperimentSummary]:
    """Every experiment with how many runs it holds, most recently active first."""
    store = store or get_store()
    runs, experiments = schema.runs, schema.experiments
    last = sa.func.max(runs.c.started)
    query = (
        sa.select(experiments.c.name, sa.func.count(runs.c.id), last)
        .select_from(experiments.outerjoin(runs, runs.c.experiment_id == experiments.c.id))
        .group_by(experiments.c.id, experiments.c.name)
        .order_by(sa.case((last.is_(None), 1), else_=0), last.desc(), experiments.c.name)
    )
    with store.reader() as conn:
        return [ExperimentSummary(name, count, ts) for name, count, ts in conn.execute(query)]
