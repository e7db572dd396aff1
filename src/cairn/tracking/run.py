"""A run: one execution of training code, with its params, metrics, tags and artifacts."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType

import sqlalchemy as sa

from cairn.errors import InvalidValueError, ParamChangedError, RunEndedError
from cairn.states import RunStatus
from cairn.store import Store, schema
from cairn.store.database import dialect_insert
from cairn.tracking import active
from cairn.tracking.artifacts import ArtifactRef, save_artifact
from cairn.tracking.output import OutputCapture
from cairn.tracking.validation import check_name, metric_value, param_json
from cairn.tracking.writer import MetricWriter

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


def _final_status(status: RunStatus | str) -> RunStatus:
    try:
        final = RunStatus(status)
    except ValueError:
        final = None
    if final is None or not final.final:
        valid = ", ".join(s.value for s in RunStatus if s.final)
        raise InvalidValueError(f"a run ends as one of {valid}, not {str(status)!r}")
    return final


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
        last_steps: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.parent_id = parent_id
        self.status = RunStatus.RUNNING
        self._writer = writer
        # Each metric's last step, for the next value logged without one.
        self._steps: dict[str, int] = dict(last_steps or {})
        self._output: OutputCapture | None = None

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.experiment}/{self.name} {self.status}>"

    def capture_output(self) -> None:
        """Keep what this process writes to stdout and stderr from now until the run ends,
        saved then as its `stdout` and `stderr` artifacts (kind `log`). Writes still reach
        the terminal."""
        self._check_open()
        if self._output is None:
            self._output = OutputCapture.start()

    def log(
        self,
        metrics: Mapping[str, object],
        step: int | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Record metric values at `step` (by default one past each metric's last step),
        taken at `timestamp` (seconds since the epoch; by default now)."""
        if self.status is not RunStatus.RUNNING:
            raise RunEndedError(f"run {self.id} has ended ({self.status}); start a new run to log")
        ts = time.time() if timestamp is None else timestamp
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
        """Record params. Logging a param the run already has with the same value is a
        no-op; another value is a ParamChangedError and nothing of `params` is recorded: as in
        MLflow, a logged param does not change."""
        self._check_open()
        rows = param_rows(self.id, params)
        if not rows:
            return
        table = schema.params
        with self.store.writer() as conn:
            conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)
            # Read back in the same transaction, so that of two writers logging one new key
            # at once, the one whose value did not land hears of it too.
            stored = dict(
                conn.execute(
                    sa.select(table.c.key, table.c.value).where(
                        table.c.run_id == self.id, table.c.key.in_([r["key"] for r in rows])
                    )
                ).all()
            )
            changed = [r for r in rows if stored[r["key"]] != r["value"]]
            if changed:  # raising rolls the whole call back
                details = "; ".join(
                    f"{r['key']!r} is {stored[r['key']]}, not {r['value']}" for r in changed
                )
                raise ParamChangedError(
                    f"a logged param does not change (as in MLflow), and in run {self.id} "
                    f"{details}. Nothing of this call was logged; log another value under "
                    "another name, or in a new run"
                )

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

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush, set the final status, and stop being the active run. Idempotent."""
        if self.status is not RunStatus.RUNNING:
            return
        with self.ending(status, error):
            pass

    @contextmanager
    def ending(
        self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Iterator[sa.Connection]:
        """`with run.ending(status) as conn:` ends the run and yields the open transaction
        that writes its status, so the caller records more in the same commit (a tuning
        trial's outcome). Metrics and captured output are made durable first, in their own
        transactions: on SQLite a caller's open write transaction would shut them out. If
        the block raises, nothing of the end is committed and the run stays open."""
        if self.status is not RunStatus.RUNNING:
            raise RunEndedError(f"run {self.id} has already ended ({self.status})")
        status = _final_status(status)
        if self._output is not None:
            stdout, stderr = self._output.stop()
            self._output = None
            self.save("stdout", stdout, kind="log")
            self.save("stderr", stderr, kind="log")
        self._writer.remove_live_run(self.id)
        self._writer.flush()
        try:
            with self.store.writer() as conn:
                conn.execute(
                    _END, {"run_id": self.id, "to": status.value, "at": time.time(), "why": error}
                )
                yield conn
        except BaseException:
            self._writer.add_live_run(self.id)  # still open: the caller may end it again
            raise
        self.status = status
        active.forget(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, Exception):
            self.end(RunStatus.KILLED, "".join(traceback.format_exception(kind, exc, tb)))
        else:
            self.end(RunStatus.FAILED, "".join(traceback.format_exception(kind, exc, tb)))

    def _check_open(self) -> None:
        if self.status is not RunStatus.RUNNING:
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
