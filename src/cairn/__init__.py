"""cairn: from the first experiment to an authorized prediction endpoint, with provenance."""

from __future__ import annotations

from cairn import datasets, models
from cairn.compute import TaskTimeout, WorkerLost, as_completed, executor, map, wait
from cairn.errors import (
    CairnError,
    CorruptBlobError,
    FilterSyntaxError,
    FlavorError,
    GateRefusedError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
    ParamChangedError,
    RunEndedError,
    SignatureError,
    WorkspaceNotFoundError,
)
from cairn.lineage import lineage
from cairn.pipeline import Step, StepInputError, step
from cairn.store import get_store
from cairn.timetravel import as_of
from cairn.tracking import (
    ArtifactRef,
    Run,
    RunRecord,
    get_run,
    resume_run,
    search_runs,
    start_run,
)
from cairn.tracking.active import current as active_run
from cairn.tracking.artifacts import load
from cairn.tuning import (
    Pruned,
    StudyMismatchError,
    TuneResult,
    choice,
    grid,
    lograndint,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    tune,
    uniform,
)

__version__ = "0.1.0"


__all__ = [
    "ArtifactRef",
    "CairnError",
    "CorruptBlobError",
    "FilterSyntaxError",
    "FlavorError",
    "GateRefusedError",
    "InvalidNameError",
    "InvalidValueError",
    "NotFoundError",
    "ParamChangedError",
    "Pruned",
    "Run",
    "RunEndedError",
    "SignatureError",
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
    "models",
    "get_run",
    "get_store",
    "lineage",
    "load",
    "search_runs",
    "resume_run",
    "start_run",
    "step",
    "choice",
    "grid",
    "lograndint",
    "loguniform",
    "qrandint",
    "quniform",
    "randint",
    "randn",
    "tune",
    "uniform",
]
