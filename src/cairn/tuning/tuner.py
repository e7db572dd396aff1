"""`cairn.tune`: an asynchronous search on cairn's executor, every trial a tracked run.

The parts, in the order a call uses them: its arguments are checked (`arguments.py`); the
study is opened or resumed and Optuna's study rebuilt (`resume.py`, `optuna_study.py`);
the study's run is started and the loop keeps trials in flight (`inflight.py`), each trial
a child run written with its row (`trial_runs.py`), its reports answered by the decision
server (`decisions.py`); the result is read back from the store (`result.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext

from cairn.compute import Executor
from cairn.compute import executor as make_executor
from cairn.store import get_store
from cairn.tracking import active, start_run
from cairn.tuning import studies
from cairn.tuning.arguments import check_arguments
from cairn.tuning.decisions import DecisionServer
from cairn.tuning.inflight import InFlightLoop
from cairn.tuning.optuna_study import SharedStudy
from cairn.tuning.outcomes import Tally
from cairn.tuning.progress import TuneProgress
from cairn.tuning.result import TuneResult
from cairn.tuning.resume import open_search


def tune(
    objective: Callable,
    space: Mapping | Callable,
    metric: str,
    mode: str,
    n_trials: int | None = None,
    *,
    executor: Executor | str | None = None,
    sampler: str | object = "tpe",
    scheduler: str | object | None = "asha",
    max_concurrent: int | None = None,
    name: str | None = None,
    time_budget: float | None = None,
    resume: bool = True,
    seed: int | None = None,
    experiment: str | None = None,
    callbacks: Sequence[Callable[[studies.TrialRecord], None]] = (),
    progress: bool | None = None,
) -> TuneResult:
    """Search `space` for the parameters that make `objective`'s `metric` best.

    `objective(trial)` gets `trial.params`, `trial.report(value, step)` and `trial.run`, and
    returns the metric's value or a dict of metrics that includes it. `mode` is "max" or
    "min" (or a `cairn.states.Direction`). `n_trials` counts every finished trial of the
    study, earlier calls under the same `name` included, so a killed search started again
    goes on where it stopped. `time_budget` (seconds) stops starting new trials.
    `callbacks` are called here with each trial's record as it ends.
    """
    args = check_arguments(
        objective, space, metric, mode, n_trials, executor, sampler, scheduler,
        max_concurrent, name, time_budget, seed,
    )  # fmt: skip
    parent = active.current()
    store = parent.store if parent is not None else get_store()
    shared = SharedStudy(args.sampler, args.pruner, args.mode)
    # Listening comes first: an address that cannot be bound is refused before any write.
    server = None if args.decisions is None else DecisionServer(shared.decide, args.decisions)
    try:
        opened = open_search(store, args, resume, shared)
        owned = not isinstance(executor, Executor)
        with (
            make_executor(executor or "local") if owned else nullcontext(executor) as pool,
            start_run(
                args.name,
                experiment=experiment,
                tags={"cairn.study": args.name, "cairn.study.version": opened.study.version},
                params={"metric": args.metric, "mode": args.mode.value,
                        "sampler": args.sampler_name, "scheduler": args.scheduler_name},
            ) as study_run,
        ):  # fmt: skip
            tally = Tally(args.mode, opened.history)
            first = max((r.number for r in opened.history), default=-1) + 1
            loop = InFlightLoop(
                args, store, opened.study, study_run, shared, pool,
                server and server.address, tally, first, callbacks,
            )  # fmt: skip
            show = sys.stderr.isatty() if progress is None else progress
            with TuneProgress(args.name, args.total, tally.finished, show) as bar:
                loop.run(args.max_concurrent or pool.workers, bar)
    finally:
        if server is not None:
            server.close()
    records = studies.load_trials(store, opened.study, curves=True)
    return TuneResult(opened.study, records, store, study_run.id, resumed=opened.resumed)
