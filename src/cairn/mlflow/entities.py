"""MLflow's entities as cairn.mlflow returns them: the same attribute names and value types as
`mlflow.entities` (ids and params as text, times as epoch milliseconds, statuses in
capitals), built from cairn's records."""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.errors import InvalidValueError
from cairn.states import RunStatus, TextEnum

ACTIVE = "active"  # MLflow's lifecycle stage of a run or experiment that is not deleted


class MlflowStatus(TextEnum):
    """A run's status as MLflow names it."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


# cairn has two statuses MLflow lacks: a crashed run failed, a pruned trial was stopped.
_SEEN_AS = {
    RunStatus.RUNNING: MlflowStatus.RUNNING,
    RunStatus.FINISHED: MlflowStatus.FINISHED,
    RunStatus.FAILED: MlflowStatus.FAILED,
    RunStatus.KILLED: MlflowStatus.KILLED,
    RunStatus.CRASHED: MlflowStatus.FAILED,
    RunStatus.PRUNED: MlflowStatus.KILLED,
}
_ENDS_AS = {
    MlflowStatus.FINISHED: RunStatus.FINISHED,
    MlflowStatus.FAILED: RunStatus.FAILED,
    MlflowStatus.KILLED: RunStatus.KILLED,
}


def mlflow_status(status: RunStatus) -> MlflowStatus:
    return _SEEN_AS[status]


def final_status(status: str) -> RunStatus:
    """The cairn status a run ends with for MLflow's `end_run(status=...)`."""
    try:
        return _ENDS_AS[MlflowStatus(str(status).upper())]
    except (KeyError, ValueError):
        raise InvalidValueError(
            f"a run ends as FINISHED, FAILED or KILLED, not {status!r}"
        ) from None


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str  # an MlflowStatus's text, as MLflow's is plain text
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = ACTIVE


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float]  # the latest value of each
    params: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset version a run used (MLflow's `mlflow.entities.Dataset`)."""

    name: str
    digest: str
    source_type: str
    source: str  # the cairn reference, NAME:VERSION


@dataclass(frozen=True)
class DatasetInput:
    dataset: DatasetRecord
    tags: list = field(default_factory=list)


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)


@dataclass(frozen=True)
class FileInfo:
    """An entry of a run's artifact listing (MLflow's `mlflow.entities.FileInfo`)."""

    path: str
    is_dir: bool
    file_size: int | None
