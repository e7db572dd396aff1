"""Runs the way MLflow's fluent API handles them: start, resume, nest, end, read.

The active run is cairn's (`cairn.active_run()`), so `mlflow.log_metric` inside `with
cairn.start_run()` logs to that run, and a run started here is the parent of a
`cairn.start_run` inside it. As in MLflow, logging with no active run starts one, which
ends when the process does.
"""

from __future__ import annotations

import logging
from types import TracebackType

from cairn.errors import CairnError
from cairn.mlflow.entities import Run as MlflowRun
from cairn.mlflow.entities import RunData, RunInfo, RunInputs, final_status
from cairn.mlflow.experiments import active_experiment_name, get_experiment
from cairn.mlflow.views import RUN_NAME_TAG, mlflow_runs
from cairn.store import get_store
from cairn.tracking import active, query
from cairn.tracking.run import Run
from cairn.tracking.start import resume_run
from cairn.tracking.start import start_run as start_cairn_run
from cairn.tracking.writer import flush_all, writer_for

log = logging.getLogger(__name__)

DESCRIPTION_TAG = "mlflow.note.content"  # where MLflow keeps a run's description
_last_run_id: str | None = None


class RunActiveError(CairnError):
    """`start_run` while a run is active, without `nested=True` (as MLflow refuses it)."""


class ActiveRun:
    """What `start_run` and `active_run` return: MLflow's ActiveRun, a context manager that
    ends the run. `info`, `data` and `inputs` are read from the store when asked, so they
    are current (MLflow's are a snapshot of the start). `cairn_run` is cairn's own `Run`."""

    def __init__(self, run: Run) -> None:
        self.cairn_run = run

    @property
    def info(self) -> RunInfo:
        return get_run(self.cairn_run.id).info

    @property
    def data(self) -> RunData:
        return get_run(self.cairn_run.id).data

    @property
    def inputs(self) -> RunInputs:
        return get_run(self.cairn_run.id).inputs

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cairn_run.__exit__(kind, exc, tb)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.cairn_run.id!r}, run_name={self.cairn_run.name!r}>"


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume run `run_id`) and make it the active one. With a run active,
    `nested=True` makes the new run its child; otherwise it is an error, as in MLflow."""
    global _last_run_id
    current = active.current()
    if current is not None and not nested:
        raise RunActiveError(
            f"run {current.id} is already active: end it with end_run(), or start a nested "
            "run with start_run(nested=True)"
        )
    if log_system_metrics:
        log.warning("cairn.mlflow does not record system metrics; log_system_metrics ignored")
    tags = {str(k): v for k, v in (tags or {}).items()}
    if description is not None:
        tags[DESCRIPTION_TAG] = description
    if run_id is not None:
        run = resume_run(run_id, tags=tags)
    else:
        parent = parent_run_id if parent_run_id is not None else current
        # A child lives in its parent's store, even if the tracking URI changed since.
        store = parent.store if isinstance(parent, Run) else get_store()
        name = run_name or tags.pop(RUN_NAME_TAG, None)  # the run's name is kept as its name
        tags.pop(RUN_NAME_TAG, None)
        if experiment_id is not None:
            experiment = get_experiment(experiment_id).name
        else:  # a child stays in its parent's experiment
            experiment = None if parent is not None else active_experiment_name()
        run = start_cairn_run(
            **({"name": str(name)} if name else {}),
            experiment=experiment,
            tags=tags,
            parent=parent,
            store=store,
            # Children take their parent's code and environment records, as tuning trials do.
            capture=parent is None,
        )
    _last_run_id = run.id
    return ActiveRun(run)


def active_run() -> ActiveRun | None:
    run = active.current()
    return None if run is None else ActiveRun(run)


def end_run(status: str = "FINISHED") -> None:
    """End the active run (if any) as FINISHED, FAILED or KILLED."""
    run = active.current()
    if run is not None:
        run.end(final_status(status))


def last_active_run() -> MlflowRun | None:
    """The active run, else the run started last in this process, else None."""
    run = active.current()
    run_id = run.id if run is not None else _last_run_id
    return None if run_id is None else get_run(run_id)


def get_run(run_id: str) -> MlflowRun:
    """Run `run_id` (info, data and inputs), with every metric logged so far."""
    store = get_store()
    flush_all()
    return mlflow_runs([query.get_run(run_id, store=store)], store)[0]


def current_or_started() -> Run:
    """The active run, or a new one (as MLflow's logging functions start one)."""
    run = active.current()
    return run if run is not None else start_run().cairn_run


def run_to_log(run_id: str | None) -> Run:
    """The run a logging call with `run_id=` writes to: the active run (started if need
    be) for None, else a handle on run `run_id` whose writes the caller makes durable with
    `settle`."""
    run = active.current()
    if run_id is None:
        return run if run is not None else start_run().cairn_run
    if run is not None and run.id == run_id.strip().upper():
        return run
    store = get_store()
    record = query.get_run(run_id, store=store)
    return Run(
        store, record.id, record.name, record.experiment, record.parent_id, writer_for(store)
    )


def settle(run: Run) -> None:
    """Make what was logged to `run` durable now unless it is the active run (whose metrics
    are flushed as it goes and when it ends): a handle is never ended."""
    if run is not active.current():
        run.flush()
