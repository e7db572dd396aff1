"""The Optuna study behind a search, in memory: the loop asks it for trials and tells it
their outcomes, the decision server's threads ask it whether to stop; one lock guards it.

The store is the record. A resumed search rebuilds the study from it: the finished trials
of earlier calls are replayed (params, distributions, value, reported curve) before
anything new is asked, and the grid points none of them tried are queued first.
"""

from __future__ import annotations

import math
import threading

from cairn.states import Direction, TrialState
from cairn.tuning.draw import Draw, replayed
from cairn.tuning.space import Space
from cairn.tuning.studies import TrialRecord


class SharedStudy:
    def __init__(self, sampler: object, pruner: object, mode: Direction) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = "maximize" if mode is Direction.MAX else "minimize"
        self._study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        self._lock = threading.Lock()
        self._running: dict[int, object] = {}  # cairn's trial number -> its optuna.Trial

    def replay(self, history: list[TrialRecord]) -> None:
        """Tell the sampler (and the pruner) about the finished trials of earlier calls."""
        import optuna

        for record in history:
            if not record.state.told:
                continue
            distributions, params = replayed(record.distributions, record.params)
            completed = record.state is TrialState.COMPLETED
            curve = {step: v for step, v in record.curve.items() if not math.isnan(v)}
            self._study.add_trial(
                optuna.trial.create_trial(
                    state=_optuna_state(record.state),
                    value=record.value if completed else None,
                    params=params,
                    distributions=distributions,
                    intermediate_values=curve,
                )
            )

    def queue_grid(self, points: list[dict], tried: list[dict]) -> None:
        """Queue the grid points that no trial in `tried` (their params) has covered."""
        for point in points:
            if not any(all(p.get(k) == v for k, v in point.items()) for p in tried):
                self._study.enqueue_trial(point)

    def ask(self, number: int, search: Space) -> Draw:
        """A new trial's parameters, drawn by the sampler; `number` names it from now on."""
        with self._lock:
            asked = self._study.ask()
            drawn = search.draw(asked)
            self._running[number] = asked
        return drawn

    def decide(self, number: int, step: int, value: float) -> bool:
        """Whether trial `number`, reporting `value` at `step`, should stop."""
        with self._lock:
            asked = self._running.get(number)
            if asked is None:  # settled or abandoned meanwhile
                return False
            asked.report(value, step)
            return asked.should_prune()

    def tell(self, number: int, state: TrialState, value: float | None) -> None:
        with self._lock:
            asked = self._running.pop(number)
            if state is TrialState.COMPLETED:
                self._study.tell(asked, value)
            else:
                self._study.tell(asked, state=_optuna_state(state))

    def forget(self, number: int) -> None:
        """A trial cut off with the search: nothing is learnt from it."""
        with self._lock:
            self._running.pop(number, None)


def _optuna_state(state: TrialState) -> object:
    from optuna.trial import TrialState as OptunaState

    return {
        TrialState.COMPLETED: OptunaState.COMPLETE,
        TrialState.PRUNED: OptunaState.PRUNED,
        TrialState.FAILED: OptunaState.FAIL,
    }[state]
