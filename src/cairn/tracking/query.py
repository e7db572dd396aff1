"""Reading runs back: one run, or many by experiment, filter and order.

Reading is also where a crashed run is noticed: a run still marked running whose process
is gone (same host, pid dead or reused) or whose heartbeat stopped is marked `crashed`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field

import psutil
import sqlalchemy as sa

from cairn.errors import FilterSyntaxError, NotFoundError
from cairn.store import Store, get_store, schema
from cairn.tracking.artifacts import ArtifactRef
from cairn.tracking.filter import ATTRIBUTES, parse_filter
from cairn.tracking.run import CRASHED, RUNNING
from cairn.tracking.writer import HEARTBEAT_INTERVAL_S

HEARTBEAT_TIMEOUT_S = float(os.environ.get("CAIRN_HEARTBEAT_TIMEOUT", 6 * HEARTBEAT_INTERVAL_S))


@dataclass
class RunRecord:
    id: str
    name: str
    experiment: str
    status: str
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
        return None if digest is None else json.loads(bytes(self._store().blobs.get(digest)))

    def _store(self) -> Store:
        return self.store or get_store()


def get_run(run_id: str, *, store: Store | None = None, as_of: float | None = None) -> RunRecord:
    """The run with id `run_id`, or the one run whose id starts or ends with it."""
    store = store or get_store()
    run_id = run_id.strip().upper()
    found = _load(store, [schema.runs.c.id == run_id], limit=1, as_of=as_of)
    if not found and len(run_id) >= 4:
        runs = schema.runs
        matches = sa.or_(runs.c.id.like(f"{run_id}%"), runs.c.id.like(f"%{run_id}"))
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
    store: Store | None = None,
    as_of: float | None = None,
) -> list[RunRecord]:
    """Runs matching `filter`, newest first unless `order_by` says otherwise.

    order_by: "metrics.acc desc", "params.C", "attributes.started asc", or a list of them.
    as_of: epoch seconds; the runs as they were then (see `cairn.as_of`).
    """
    store = store or get_store()
    latest = schema.latest_metrics if as_of is None else latest_metrics_as_of(as_of)
    conditions = []
    if experiment is not None:
        conditions.append(schema.experiments.c.name == experiment)
    if filter:
        conditions.append(parse_filter(filter, latest))
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    return _load(store, conditions, [_order(o, latest) for o in orders], limit=limit, as_of=as_of)


def mark_crashed(store: Store, rows: list) -> set[str]:
    """Mark running runs whose process is gone as crashed; return their ids."""
    host, now = socket.gethostname(), time.time()
    crashed = {
        r.id
        for r in rows
        if r.status == RUNNING and _is_dead(r.host, r.pid, r.pid_started, r.heartbeat, host, now)
    }
    if crashed:
        with store.writer() as conn:
            conn.execute(
                schema.runs.update()
                .where(schema.runs.c.id.in_(crashed), schema.runs.c.status == RUNNING)
                .values(status=CRASHED, ended=sa.func.coalesce(schema.runs.c.heartbeat, now))
            )
    return crashed


def _is_dead(
    run_host: str | None,
    pid: int | None,
    pid_started: float | None,
    heartbeat: float | None,
    host: str,
    now: float,
) -> bool:
    if run_host == host and pid is not None:
        try:
            return abs(psutil.Process(pid).create_time() - (pid_started or 0)) > 1.0
        except psutil.NoSuchProcess:
            return True
    return heartbeat is None or now - heartbeat > HEARTBEAT_TIMEOUT_S


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


def _order(text: str, latest: sa.FromClause) -> sa.ColumnElement:
    parts = text.strip().split()
    if not parts or len(parts) > 2 or "." not in parts[0]:
        raise FilterSyntaxError(f"bad order_by {text!r}: write e.g. 'metrics.acc desc'")
    descending = len(parts) == 2 and parts[1].lower() == "desc"
    if len(parts) == 2 and parts[1].lower() not in ("asc", "desc"):
        raise FilterSyntaxError(f"bad order_by {text!r}: direction must be asc or desc")
    section, name = parts[0].split(".", 1)
    if section in ("metrics", "metric"):
        table, column = latest, latest.c.value
    elif section in ("params", "param"):
        table, column = schema.params, schema.params.c.num
    elif section in ("attributes", "attr") and name in ATTRIBUTES:
        column = schema.runs.c[name]
        return column.desc() if descending else column.asc()
    else:
        raise FilterSyntaxError(
            f"bad order_by {text!r}: sort by metrics.X, params.X or attributes.X"
        )
    value = (
        sa.select(column)
        .where(table.c.run_id == schema.runs.c.id, table.c.key == name)
        .scalar_subquery()
    )
    # Runs without the value sort last either way.
    return value.desc().nulls_last() if descending else value.asc().nulls_last()


def _load(
    store: Store,
    conditions: list,
    orders: list | None = None,
    limit: int | None = None,
    as_of: float | None = None,
) -> list[RunRecord]:
    runs, experiments = schema.runs, schema.experiments
    if as_of is not None:
        conditions = [*conditions, runs.c.started <= as_of]
    query = (
        sa.select(runs, experiments.c.name.label("experiment"))
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .where(*conditions)
        .order_by(*(orders or []), runs.c.started.desc(), runs.c.id.desc())
        .limit(limit)
    )
    with store.reader() as conn:
        rows = conn.execute(query).all()
        ids = [r.id for r in rows]
        params = _by_run(conn, schema.params, ids, lambda r: json.loads(r.value))
        latest = schema.latest_metrics if as_of is None else latest_metrics_as_of(as_of)
        metrics = _by_run(conn, latest, ids, lambda r: _nan_if_null(r.value))
        tags = _by_run(conn, schema.tags, ids, lambda r: r.value)
    if as_of is None:
        crashed = mark_crashed(store, rows)
        status = {r.id: CRASHED if r.id in crashed else r.status for r in rows}
        ended = {r.id: (r.heartbeat or r.ended) if r.id in crashed else r.ended for r in rows}
    else:  # a run that ended later was still running then
        status = {r.id: r.status if r.ended and r.ended <= as_of else RUNNING for r in rows}
        ended = {r.id: r.ended if r.ended and r.ended <= as_of else None for r in rows}
    return [
        RunRecord(
            id=r.id,
            name=r.name,
            experiment=r.experiment,
            status=status[r.id],
            started=r.started,
            ended=ended[r.id],
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
