"""cairn: from the first experiment to an authorized prediction endpoint, with provenance."""

from __future__ import annotations

from cairn import datasets
from cairn.compute import TaskTimeout, WorkerLost, as_completed, executor, map, wait
from cairn.errors import (
    CairnError,
    CorruptBlobError,
    FilterSyntaxError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
    RunEndedError,
    WorkspaceNotFoundError,
)
from cairn.lineage import lineage
from cairn.pipeline import Step, StepInputError, step
from cairn.store import get_store
from cairn.timetravel import as_of
from cairn.tracking import ArtifactRef, Run, RunRecord, get_run, search_runs, start_run
from cairn.tracking import active as _active
from cairn.tracking.artifacts import record_input, resolve
from cairn.tuning import (
    Pruned,
    StudyMismatchError,
    TuneResult,
    choice,
    grid,
    loguniform,
    randint,
    tune,
    uniform,
)

__version__ = "0.1.0"


def load(ref: ArtifactRef | str) -> object:
    """The value an artifact reference names; recorded as an input of the active run."""
    store = get_store()
    artifact = resolve(store, ref)
    value = store.get_value(artifact.digest)
    run = _active.current()
    if run is not None:
        record_input(store, run.id, artifact)
    return value


def active_run() -> Run | None:
    """The innermost open run of this thread, if any."""
    return _active.current()


__all__ = [
    "ArtifactRef",
    "CairnError",
    "CorruptBlobError",
    "FilterSyntaxError",
    "InvalidNameError",
    "InvalidValueError",
    "NotFoundError",
    "Pruned",
    "Run",
    "RunEndedError",
    "RunRecord",
    "Step",
    "StudyMismatchError",
    "TuneResult",
    "StepInputError",
    "WorkspaceNotFoundError",
    "active_run",
    "as_of",
    "as_completed",
    "executor",
    "map",
    "wait",
    "TaskTimeout",
    "WorkerLost",
    "datasets",
    "get_run",
    "lineage",
    "load",
    "search_runs",
    "start_run",
    "step",
    "choice",
    "grid",
    "loguniform",
    "randint",
    "tune",
    "uniform",
]
