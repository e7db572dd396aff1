"""What became of the trials: one trial's outcome read from its future, and the running
count of a search (finished, pruned, failed, best value) its progress bar shows."""

from __future__ import annotations

import traceback
from concurrent.futures import Future

from cairn.states import Direction, TrialState
from cairn.tuning.studies import TrialRecord
from cairn.tuning.trial import Outcome


def outcome_of(future: Future) -> Outcome:
    """The trial's state, value and error text; a worker that died, or a trial that could
    not be sent, is a failed trial with the reason."""
    try:
        return future.result()
    except Exception as exc:
        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return TrialState.FAILED, None, error


class Tally:
    def __init__(self, mode: Direction, history: list[TrialRecord]) -> None:
        self.mode = mode
        self.finished = self.pruned = self.failed = 0
        self.best: float | None = None
        for record in history:
            if record.state.told:
                self.add(record)

    def add(self, record: TrialRecord) -> None:
        """Count a trial that ended in a told state (completed, pruned or failed)."""
        self.finished += 1
        if record.state is TrialState.COMPLETED:
            values = [record.value] if self.best is None else [record.value, self.best]
            self.best = self.mode.best(values)
        elif record.state is TrialState.PRUNED:
            self.pruned += 1
        else:
            self.failed += 1
