"""MLflow runs written as cairn runs: the rows of each run, written a batch of runs per
transaction, so a run is in the store whole or not at all.

A cairn run takes its MLflow run's name, status, times (epoch milliseconds become seconds),
user, parent (`mlflow.parentRunId`), params, tags and every metric's whole history, plus the
tag `mlflow.run_id`, which maps it back to its source and lets an import skip it next time.
Its id is a new ULID from the MLflow start time, so runs still sort by when they started.
An MLflow run still RUNNING (or SCHEDULED) is imported as running with its last sign of life
(start or last metric) as heartbeat: MLflow has no liveness, so cairn's rule reads it as
crashed once that is older than the heartbeat timeout. An import refreshes such a run (and any
run whose status or end changed since) in place: its params, tags and metrics are replaced,
new artifacts added.

Artifacts and dataset inputs arrive as `PendingArtifact`s whose blobs are already stored:
their rows and lineage edges are written in the run's transaction.
"""

from __future__ import annotations

import json
import time
from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from ulid import ULID

from cairn.mlflow.entities import MlflowStatus
from cairn.mlflow.import_names import Names, param_value
from cairn.mlflow.mlflow_source import MetricPoint, SourceRun
from cairn.states import RunStatus
from cairn.store import schema
from cairn.store.database import dialect_insert
from cairn.store.nodes import Relation, artifact_node, run_node
from cairn.tracking.artifacts import add_edge, insert_artifact, next_version

RUN_ID_TAG = "mlflow.run_id"
PARENT_TAG = "mlflow.parentRunId"
DATASET_KIND = "dataset"
_STATUS = {
    MlflowStatus.RUNNING: RunStatus.RUNNING,
    MlflowStatus.SCHEDULED: RunStatus.RUNNING,  # queued, never started: still to come
    MlflowStatus.FINISHED: RunStatus.FINISHED,
    MlflowStatus.FAILED: RunStatus.FAILED,
    MlflowStatus.KILLED: RunStatus.KILLED,
}


@dataclass(frozen=True)
class PendingArtifact:
    """An artifact whose blob is stored and whose row is still to be written."""

    name: str
    kind: str
    digest: str
    meta: dict | None = None


@dataclass(frozen=True)
class Imported:
    """What a cairn run already holds of an MLflow run."""

    run_id: str
    status: str
    ended: float | None


@dataclass
class RunImport:
    """One MLflow run, converted and ready to write."""

    source: SourceRun
    experiment_id: int
    points: list[MetricPoint]
    artifacts: list[PendingArtifact] = field(default_factory=list)
    datasets: list[PendingArtifact] = field(default_factory=list)  # inputs: the run used them
    previous: Imported | None = None  # set when refreshing an imported run

    @property
    def status(self) -> RunStatus:
        return status_of(self.source.status)

    @property
    def ended(self) -> float | None:
        if self.status is RunStatus.RUNNING or self.source.end_ms is None:
            return None
        return self.source.end_ms / 1000


def status_of(mlflow_status: str) -> RunStatus:
    try:
        return _STATUS[MlflowStatus(mlflow_status)]
    except ValueError:
        return RunStatus.FAILED  # a status MLflow does not define: the run did not finish


def is_current(imported: Imported, run: SourceRun) -> bool:
    """Whether the cairn copy still says what the MLflow run says (a run that ended since,
    or was imported running, is refreshed)."""
    status = status_of(run.status)
    if status is RunStatus.RUNNING or imported.status != status.value:
        return False
    ended = None if run.end_ms is None else run.end_ms / 1000
    return imported.ended == ended


def imported_runs(conn: sa.Connection) -> dict[str, Imported]:
    """Every run an import made in this store, by MLflow run id."""
    tags, runs = schema.tags, schema.runs
    query = (
        sa.select(tags.c.value, runs.c.id, runs.c.status, runs.c.ended)
        .join(runs, runs.c.id == tags.c.run_id)
        .where(tags.c.key == RUN_ID_TAG)
    )
    return {row[0]: Imported(row[1], row[2], row[3]) for row in conn.execute(query)}


def write_runs(
    conn: sa.Connection, batch: list[RunImport], known: Mapping[str, str], names: Names
) -> tuple[dict[str, str], int]:
    """Write `batch` inside `conn`'s transaction. `known` maps MLflow run ids to the cairn
    runs already committed (parents included). Returns the ids of the new runs (to add to
    `known` once committed) and the number of metric rows written."""
    new = {
        item.source.run_id: str(ULID.from_timestamp((item.source.start_ms or 0) / 1000))
        for item in batch
        if item.previous is None
    }
    ids = ChainMap(new, known)
    linkable = ChainMap({}, known)  # parents written already: committed, or earlier in `batch`
    runs_new, refreshed, params, tags, points, latest = [], [], [], [], [], []
    for item in batch:
        run_id = ids[item.source.run_id]
        row = _run_row(item, run_id, linkable, names)
        linkable[item.source.run_id] = run_id
        if item.previous is None:
            runs_new.append(tuple(row[c] for c in _RUN_COLUMNS))
        else:
            refreshed.append(row)
        for key, text in item.source.params.items():
            params.append((run_id, names(key, "param name"), *param_value(text)))
        for key, value in {**item.source.tags, RUN_ID_TAG: item.source.run_id}.items():
            tags.append((run_id, names(key, "tag name"), value))
        keys = {k: names(k, "metric name") for k in {point[0] for point in item.points}}
        rows = [(run_id, keys[k], s, v, ms / 1000) for k, s, v, ms in item.points]
        points += rows
        latest += _latest(rows)
    _insert(conn, schema.runs, _RUN_COLUMNS, runs_new)
    for row in refreshed:  # after the new runs: a refreshed run's parent may be one of them
        run_id = row.pop("id")
        _clear(conn, run_id)
        conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**row))
    _insert(conn, schema.params, ("run_id", "key", "value", "num"), _unique(params))
    _insert(conn, schema.tags, ("run_id", "key", "value"), _unique(tags))
    _insert(conn, schema.metrics, _METRIC_COLUMNS, points)
    _insert(conn, schema.latest_metrics, _METRIC_COLUMNS, latest)
    for item in batch:
        _write_artifacts(conn, ids[item.source.run_id], item)
    return new, len(points)


_RUN_COLUMNS = (
    "id", "experiment_id", "parent_id", "name", "status", "started", "ended", "heartbeat", "user",
)  # fmt: skip
_METRIC_COLUMNS = ("run_id", "key", "step", "value", "ts")


def _run_row(item: RunImport, run_id: str, parents: Mapping[str, str], names: Names) -> dict:
    run = item.source
    started = (run.start_ms or 0) / 1000
    ended = item.ended
    last_point = max((ms for _, _, _, ms in item.points), default=0) / 1000
    return {
        "id": run_id,
        "experiment_id": item.experiment_id,
        "parent_id": parents.get(run.tags.get(PARENT_TAG, "")),
        "name": names(run.name or run.run_id, "run name"),
        "status": item.status.value,
        "started": started,
        "ended": ended,
        "heartbeat": ended if ended is not None else max(started, last_point),
        "user": run.user or None,
    }


def _latest(rows: list[tuple]) -> list[tuple]:
    """Each metric's last value as MLflow picks it: the highest step, then the latest
    timestamp, then the largest value (NaN counting as the smallest)."""
    latest: dict[str, tuple] = {}
    for row in rows:
        best = latest.get(row[1])
        if (
            best is None
            or (row[2], row[4]) > (best[2], best[4])
            or ((row[2], row[4]) == (best[2], best[4]) and _value_rank(row) >= _value_rank(best))
        ):
            latest[row[1]] = row
    return list(latest.values())


def _value_rank(row: tuple) -> tuple[bool, float]:
    return (row[3] is not None, row[3] if row[3] is not None else 0.0)


def _unique(rows: list[tuple]) -> list[tuple]:
    """One row per (run, key): two MLflow names can become one cairn name (`a/b`, `a.b`);
    the last one wins."""
    return list({row[:2]: row for row in rows}.values())


def _insert(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]
) -> None:
    """Rows as tuples, straight to the driver's executemany: SQLAlchemy's per-row parameter
    processing cost more than the database's insert."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})",
        rows,
    )


def _clear(conn: sa.Connection, run_id: str) -> None:
    """Remove what a refresh writes again: params, tags, metrics."""
    for table in (schema.params, schema.tags, schema.metrics, schema.latest_metrics):
        conn.execute(table.delete().where(table.c.run_id == run_id))


def _write_artifacts(conn: sa.Connection, run_id: str, item: RunImport) -> None:
    now = time.time()
    have = set()
    if item.previous is not None:  # a refresh: add only the artifacts the run lacks
        table = schema.artifacts
        have = set(
            conn.execute(
                sa.select(table.c.digest, table.c.meta).where(table.c.run_id == run_id)
            ).all()
        )
    for artifact in item.artifacts:
        if (artifact.digest, json.dumps(artifact.meta) if artifact.meta else None) not in have:
            version = next_version(conn, artifact.name)
            insert_artifact(
                conn, run_id, artifact.name, version, artifact.kind, artifact.digest, artifact.meta
            )
    for dataset in item.datasets:
        node = artifact_node(_dataset_id(conn, dataset))
        add_edge(conn, run_node(run_id), node, Relation.USED, now)


def _dataset_id(conn: sa.Connection, dataset: PendingArtifact) -> int:
    """The dataset version holding these bytes, made if there is none."""
    table = schema.artifacts
    found = conn.execute(
        sa.select(table.c.id)
        .where(
            table.c.name == dataset.name,
            table.c.kind == DATASET_KIND,
            table.c.digest == dataset.digest,
        )
        .order_by(table.c.version)
        .limit(1)
    ).scalar()
    if found is not None:
        return found
    version = next_version(conn, dataset.name)
    return insert_artifact(
        conn, None, dataset.name, version, DATASET_KIND, dataset.digest, dataset.meta
    ).id


def ensure_experiments(
    conn: sa.Connection, wanted: Iterable[tuple[str, float]]
) -> tuple[dict[str, int], int]:
    """cairn experiment ids by name for (name, created) pairs, made where missing (with
    MLflow's creation time); and how many were made."""
    table = schema.experiments
    wanted = dict(wanted)
    if not wanted:
        return {}, 0
    before = _experiment_ids(conn, list(wanted))
    missing = [{"name": n, "created": c} for n, c in wanted.items() if n not in before]
    if missing:
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), missing)
    return _experiment_ids(conn, list(wanted)), len(missing)


def _experiment_ids(conn: sa.Connection, names: list[str]) -> dict[str, int]:
    table = schema.experiments
    query = sa.select(table.c.name, table.c.id).where(table.c.name.in_(names))
    return {name: id_ for name, id_ in conn.execute(query)}
