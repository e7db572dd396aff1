"""The loop of a search: `width` trials in flight on the executor, a new one asked for as
soon as one ends, so no worker waits for a rung or a generation. Trials still running are
in the Optuna study as running, which the TPE sampler's constant liar takes into account."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

from cairn.compute import Executor
from cairn.compute.run_context import context_of
from cairn.states import TrialState
from cairn.store import Store
from cairn.tracking import Run
from cairn.tuning.arguments import TuneArguments
from cairn.tuning.optuna_study import SharedStudy
from cairn.tuning.outcomes import Tally, outcome_of
from cairn.tuning.progress import TuneProgress
from cairn.tuning.studies import Study, TrialRecord
from cairn.tuning.trial import TrialSpec, run_trial
from cairn.tuning.trial_runs import end_trial_run, start_trial_run


@dataclass(frozen=True)
class _Running:
    record: TrialRecord
    run: Run


class InFlightLoop:
    def __init__(
        self,
        args: TuneArguments,
        store: Store,
        study: Study,
        study_run: Run,
        shared: SharedStudy,
        pool: Executor,
        decisions: tuple[tuple[str, int], bytes] | None,
        tally: Tally,
        first_number: int,
        callbacks: Sequence[Callable[[TrialRecord], None]],
    ) -> None:
        self.args, self.store, self.study, self.study_run = args, store, study, study_run
        self.shared, self.pool, self.decisions = shared, pool, decisions
        self.tally, self.callbacks = tally, callbacks
        self.next_number = first_number

    def run(self, width: int, bar: TuneProgress) -> None:
        """Until the study has its trials or the time budget is spent, and every trial
        started has ended; trials still running when this is interrupted end as killed."""
        budget = self.args.time_budget
        deadline = math.inf if budget is None else time.monotonic() + budget
        inflight: dict[Future, _Running] = {}
        try:
            while True:
                while (
                    len(inflight) < width
                    and self.tally.finished + len(inflight) < self.args.total
                    and time.monotonic() < deadline
                ):
                    future, running = self._launch()
                    inflight[future] = running
                    self._show(bar, len(inflight))
                if not inflight:
                    return
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle(inflight.pop(future), future)
                self._show(bar, len(inflight))
        except BaseException:
            for future, running in inflight.items():
                future.cancel()
                self._abandon(running)
            raise

    def _launch(self) -> tuple[Future, _Running]:
        number, self.next_number = self.next_number, self.next_number + 1
        drawn = self.shared.ask(number, self.args.search)
        record = TrialRecord(
            number=number,
            state=TrialState.RUNNING,
            value=None,
            params=drawn.params,
            distributions=drawn.distributions,
            run_id="",
            started=time.time(),
            ended=None,
        )
        run = start_trial_run(self.store, self.study, self.study_run, record)
        spec = TrialSpec(number, record.params, self.args.metric, context_of(run), self.decisions)
        future = self.pool.submit(run_trial, self.args.objective, spec)
        return future, _Running(record, run)

    def _settle(self, running: _Running, future: Future) -> None:
        state, value, error = outcome_of(future)
        record = running.record
        self.shared.tell(record.number, state, value)
        record.state, record.value, record.ended = state, value, time.time()
        end_trial_run(running.run, self.study, record, error)
        self.tally.add(record)
        for callback in self.callbacks:
            callback(record)

    def _abandon(self, running: _Running) -> None:
        """A trial cut off by Ctrl-C or an error in the loop: recorded as killed."""
        record = running.record
        self.shared.forget(record.number)
        record.state, record.ended = TrialState.KILLED, time.time()
        end_trial_run(running.run, self.study, record, "the search was interrupted")

    def _show(self, bar: TuneProgress, running: int) -> None:
        tally = self.tally
        bar.update(tally.finished, running, tally.pruned, tally.failed, tally.best)
