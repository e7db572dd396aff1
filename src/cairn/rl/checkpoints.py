"""Checkpoints: everything an ES training needs to go on exactly as if never stopped (its
parameters, the optimizer's moments, the random generator, the observation statistics and
the history so far), saved as an artifact of its run every few iterations.

A training killed on the way resumes from the last checkpoint of its run, named by id, or
found by experiment and run name: the newest run of that name that did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cairn.errors import NotFoundError
from cairn.rl.history import Iteration
from cairn.rl.normalization import ObservationStats
from cairn.rl.optimizers import Optimizer
from cairn.rl.settings import ESSettings
from cairn.states import RunStatus
from cairn.store import Store
from cairn.tracking import Run, get_run, search_runs
from cairn.tracking.artifacts import ArtifactRef, resolve

CHECKPOINT = "es-checkpoint"
KIND = "checkpoint"
RESUMED_FROM = "cairn.resumed_from"  # the tag of a run that took over a stopped training
_RESUMABLE = (RunStatus.CRASHED, RunStatus.KILLED, RunStatus.FAILED)


@dataclass
class TrainingState:
    """A training between two iterations."""

    settings: ESSettings
    params: np.ndarray
    optimizer: Optimizer
    rng: np.random.Generator
    observations: ObservationStats | None  # None when observations are not normalized
    history: list[Iteration] = field(default_factory=list)

    @property
    def iteration(self) -> int:
        """How many iterations are done: the number of the next."""
        return len(self.history)


def save_checkpoint(run: Run, state: TrainingState) -> ArtifactRef:
    return run.save(CHECKPOINT, state, kind=KIND)


def load_checkpoint(store: Store, run_id: str) -> tuple[TrainingState, ArtifactRef]:
    """The last checkpoint run `run_id` saved, and its artifact."""
    run_id = get_run(run_id, store=store).id  # a unique prefix or suffix will do
    try:
        artifact = resolve(store, f"{run_id}/{CHECKPOINT}")
    except NotFoundError:
        raise NotFoundError(f"run {run_id} saved no checkpoint to resume from") from None
    return store.get_value(artifact.digest), artifact


def resumable_run(store: Store, experiment: str, name: str) -> str | None:
    """The newest run called `name` in `experiment` that stopped before its end and saved
    a checkpoint, or None. A run that another run took over is passed by unless that one
    stopped too before its first checkpoint."""
    taken_over: set[str] = set()
    for record in search_runs(experiment, store=store):  # newest first
        if record.name != name:
            continue
        if record.id in taken_over or record.status not in _RESUMABLE:  # finished, or going on
            if RESUMED_FROM in record.tags:
                taken_over.add(record.tags[RESUMED_FROM])
            continue
        if any(artifact.name == CHECKPOINT for artifact in record.artifacts()):
            return record.id
    return None
