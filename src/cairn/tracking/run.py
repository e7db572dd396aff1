"""A run: one execution of training code, with its params, metrics, tags and artifacts."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType

import sqlalchemy as sa

from cairn.errors import RunEndedError
from cairn.store import Store, schema
from cairn.store.database import dialect_insert
from cairn.tracking import active
from cairn.tracking.artifacts import ArtifactRef, save_artifact
from cairn.tracking.validation import check_name, metric_value, param_json
from cairn.tracking.writer import MetricWriter

RUNNING, FINISHED, FAILED, KILLED, CRASHED = "running", "finished", "failed", "killed", "crashed"
PRUNED = "pruned"  # a tuning trial stopped early by its scheduler


# Built once: statements built per call cost more to compile than to run.
_END = (
    schema.runs.update()
    .where(schema.runs.c.id == sa.bindparam("run_id"))
    .values(status=sa.bindparam("to"), ended=sa.bindparam("at"), error=sa.bindparam("why"))
)


def param_rows(run_id: str, params: Mapping[str, object]) -> list[dict]:
    """Rows of the params table, each name and value checked."""
    rows = []
    for key, value in params.items():
        check_name(key, "param name")
        text, number = param_json(key, value)
        rows.append({"run_id": run_id, "key": key, "value": text, "num": number})
    return rows


def tag_rows(run_id: str, tags: Mapping[str, object]) -> list[dict]:
    return [
        {"run_id": run_id, "key": check_name(key, "tag name"), "value": str(value)}
        for key, value in tags.items()
    ]


class Run:
    """A live run of this process. Get one from `cairn.start_run`."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        name: str,
        experiment: str,
        parent_id: str | None,
        writer: MetricWriter,
    ) -> None:
        self.store = store
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.parent_id = parent_id
        self.status = RUNNING
        self._writer = writer
        self._steps: dict[str, int] = {}
        self._output_capture = None

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.experiment}/{self.name} {self.status}>"

    def log(self, metrics: Mapping[str, object], step: int | None = None) -> None:
        """Record metric values at `step` (by default one past each metric's last step)."""
        if self.status != RUNNING:
            raise RunEndedError(f"run {self.id} has ended ({self.status}); start a new run to log")
        ts = time.time()
        rows = []
        steps = self._steps
        for key, value in metrics.items():
            check_name(key, "metric name")
            value = value if type(value) is float else metric_value(key, value)
            at = step if step is not None else steps.get(key, -1) + 1
            steps[key] = at
            rows.append((self.id, key, at, value, ts))
        writer = self._writer
        with writer.lock:
            writer.pending.extend(rows)
        writer.wake_if_full()

    def log_params(self, params: Mapping[str, object]) -> None:
        self._check_open()
        self._upsert(schema.params, param_rows(self.id, params), ("value", "num"))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        self._check_open()
        self._upsert(schema.tags, tag_rows(self.id, tags), ("value",))

    def save(self, name: str, value: object, *, kind: str = "artifact") -> ArtifactRef:
        """Store `value` as a new version of artifact `name`, produced by this run."""
        self._check_open()
        return save_artifact(self.store, self.id, check_name(name, "artifact name"), value, kind)

    def flush(self) -> None:
        """Make every metric logged so far durable."""
        self._writer.flush()

    def end(
        self,
        status: str = FINISHED,
        error: str | None = None,
        *,
        also: Callable[[sa.Connection], None] | None = None,
    ) -> None:
        """Flush, set the final status, and stop being the active run. Idempotent.
        `also` writes more in the same transaction (a tuning trial's outcome)."""
        if self.status != RUNNING:
            return
        if self._output_capture is not None:
            self._output_capture.stop(self)
        self._writer.remove_live_run(self.id)
        self._writer.flush()
        self.status = status
        with self.store.writer() as conn:
            conn.execute(_END, {"run_id": self.id, "to": status, "at": time.time(), "why": error})
            if also is not None:
                also(conn)
        active.forget(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end(FINISHED)
        elif isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, Exception):
            self.end(KILLED, "".join(traceback.format_exception(kind, exc, tb)))
        else:
            self.end(FAILED, "".join(traceback.format_exception(kind, exc, tb)))

    def _check_open(self) -> None:
        if self.status != RUNNING:
            raise RunEndedError(f"run {self.id} has ended ({self.status}); start a new run")

    def _upsert(self, table: sa.Table, rows: list[dict], update: tuple[str, ...]) -> None:
        if not rows:
            return
        with self.store.writer() as conn:
            stmt = dialect_insert(conn, table)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.run_id, table.c.key],
                set_={column: stmt.excluded[column] for column in update},
            )
            conn.execute(stmt, rows)
