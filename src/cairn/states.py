"""The states a run, a tuning trial and a study's direction can be in: closed sets, one place.

They are `str` enums so that a stored value (the database holds their text) reads back as
the member it names (`RunStatus("finished")`) and a member compares equal to its text;
`str()` and f-strings give the text on every Python version cairn supports.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class TextEnum(str, Enum):
    """A str enum whose str() is its value on every Python version."""

    def __str__(self) -> str:
        return self.value


class RunStatus(TextEnum):
    """Where a run is in its life. Only `RUNNING` is not final."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"  # SIGTERM or Ctrl-C: the process said so before it ended
    CRASHED = "crashed"  # its process vanished (SIGKILL, power loss); derived when read
    PRUNED = "pruned"  # a tuning trial stopped early by its scheduler

    @property
    def final(self) -> bool:
        return self is not RunStatus.RUNNING


class TrialState(TextEnum):
    """A tuning trial's outcome as the search sees it."""

    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    KILLED = "killed"  # the search was interrupted while it ran
    CRASHED = "crashed"  # left running by a tuner that died; replaced on resume

    @property
    def told(self) -> bool:
        """Whether the sampler learns from it when a study is resumed."""
        return self in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)

    @property
    def run_status(self) -> RunStatus:
        """The status of the trial's run when the trial ends in this state."""
        return _TRIAL_RUN_STATUS[self]


_TRIAL_RUN_STATUS = {
    TrialState.RUNNING: RunStatus.RUNNING,
    TrialState.COMPLETED: RunStatus.FINISHED,
    TrialState.PRUNED: RunStatus.PRUNED,
    TrialState.FAILED: RunStatus.FAILED,
    TrialState.KILLED: RunStatus.KILLED,
    TrialState.CRASHED: RunStatus.CRASHED,
}


class Direction(TextEnum):
    """Whether a study looks for the largest or the smallest value of its metric."""

    MAX = "max"
    MIN = "min"

    def best(self, values: Iterable[T]) -> T:
        return max(values) if self is Direction.MAX else min(values)
