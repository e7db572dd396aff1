"""What a search found: the best trial, its run, and every trial as a data frame."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.errors import CairnError, InvalidValueError, NotFoundError
from cairn.states import TrialState
from cairn.store import Store
from cairn.tracking import RunRecord, get_run
from cairn.tuning.studies import Study, TrialRecord, find_study, load_trials


@dataclass
class TuneResult:
    study: Study
    records: list[TrialRecord]  # every trial of the study, by number, resumed ones included
    store: Store
    study_run_id: str | None = None  # the run of this call of cairn.tune
    resumed: int = 0  # finished trials carried over from earlier calls

    @property
    def name(self) -> str:
        return self.study.name

    @property
    def best_trial(self) -> TrialRecord:
        done = [r for r in self.records if r.state is TrialState.COMPLETED]
        if not done:
            raise NotFoundError(
                f"study {self.study.name!r} has no completed trial yet "
                f"({len(self.records)} trial(s): see result.trials for their states)"
            )
        best = self.study.mode.best(r.value for r in done)
        return next(r for r in done if r.value == best)

    @property
    def best_params(self) -> dict:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        return self.best_trial.value

    @property
    def best_run(self) -> RunRecord:
        return get_run(self.best_trial.run_id, store=self.store)

    @property
    def trials(self):  # -> pandas.DataFrame
        """One row per trial: number, state, value, run_id, seconds, steps, params.*"""
        try:
            import pandas as pd
        except ImportError:
            raise CairnError(
                "result.trials is a pandas DataFrame: pip install 'cairn[ml]' "
                "(result.records holds the same trials as a list)"
            ) from None

        rows = [
            {
                "number": r.number,
                "state": r.state.value,
                "value": r.value,
                "run_id": r.run_id,
                "seconds": r.duration,
                "steps": len(r.curve),
                **{f"params.{k}": v for k, v in r.params.items()},
            }
            for r in self.records
        ]
        columns = ["number", "state", "value", "run_id", "seconds", "steps"]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def count(self, state: TrialState | str) -> int:
        """How many trials are in `state` (a TrialState or its name, e.g. "pruned")."""
        try:
            state = TrialState(state)
        except ValueError:
            valid = ", ".join(s.value for s in TrialState)
            raise InvalidValueError(f"no trial state {state!r}; one of {valid}") from None
        return sum(r.state is state for r in self.records)


def load_result(store: Store, name: str, version: int | None = None) -> TuneResult:
    """A stored study as a result, e.g. for `cairn tune show`."""
    study = find_study(store, name, version)
    return TuneResult(study, load_trials(store, study, curves=True), store)
