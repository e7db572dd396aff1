"""`cairn.tune`: an asynchronous search on cairn's executor, every trial a tracked run.

The loop keeps `max_concurrent` trials in flight. When one ends, its outcome is told to
the Optuna study and the next suggestion is asked for at once: no worker waits for a rung
or a generation. Trials still running are in the study as running, which the TPE sampler's
constant liar takes into account. Reports reach the pruner through `DecisionServer`.

Optuna's study here is in memory and rebuilt from the store on resume; cairn's store is the
record: a study row, a trial row and a child run per trial.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.compute import Executor
from cairn.compute import executor as make_executor
from cairn.compute.tracking import context_of
from cairn.errors import InvalidValueError
from cairn.store import get_store
from cairn.tracking import active
from cairn.tracking.run import FAILED as RUN_FAILED
from cairn.tracking.run import FINISHED, KILLED, PRUNED, Run
from cairn.tracking.start import start_run
from cairn.tracking.validation import check_name
from cairn.tuning import studies
from cairn.tuning.decisions import DecisionServer
from cairn.tuning.progress import TuneProgress
from cairn.tuning.result import TuneResult
from cairn.tuning.space import Space
from cairn.tuning.strategies import make_pruner, make_sampler
from cairn.tuning.trial import COMPLETED, FAILED, TrialSpec, run_trial
from cairn.tuning.trial import PRUNED as TRIAL_PRUNED

RUN_STATUS = {COMPLETED: FINISHED, TRIAL_PRUNED: PRUNED, FAILED: RUN_FAILED}


@dataclass
class _InFlight:
    record: studies.TrialRecord
    asked: object  # the optuna.Trial
    run: Run


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
    returns the metric's value or a dict of metrics that includes it. `n_trials` counts every
    finished trial of the study, earlier calls under the same `name` included, so a killed
    search started again goes on where it stopped. `time_budget` (seconds) stops starting
    new trials. `callbacks` are called here with each trial's record as it ends.
    """
    import optuna

    if not callable(objective):
        raise InvalidValueError(f"objective must be a function of a trial, got {objective!r}")
    if mode not in ("min", "max"):
        raise InvalidValueError(f"mode must be 'min' or 'max', got {mode!r}")
    check_name(metric, "metric name")
    search = Space(space)
    total = _total_trials(n_trials, time_budget, len(search.grid_points()))
    if max_concurrent is not None and (not isinstance(max_concurrent, int) or max_concurrent < 1):
        raise InvalidValueError(f"max_concurrent must be a positive integer, got {max_concurrent}")
    name = check_name(name or _default_name(objective), "study name")
    sampler_obj, sampler_name = make_sampler(sampler, seed)
    pruner, scheduler_name = make_pruner(scheduler)
    url = executor.url if isinstance(executor, Executor) else executor or "local"
    if not url.startswith("thread"):
        _check_sendable(objective)

    parent = active.current()
    store = parent.store if parent is not None else get_store()
    proposed = studies.Study(
        0, name, 0, metric, mode, sampler_name, scheduler_name,
        search.describe(), search.fingerprint(), 0.0,
    )  # fmt: skip
    study, resumed = studies.open_study(store, proposed, resume)
    history: list[studies.TrialRecord] = []
    if resumed:
        studies.mark_crashed(store, study)
        history = studies.load_trials(store, study, curves=True)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    book = optuna.create_study(
        direction="maximize" if mode == "max" else "minimize", sampler=sampler_obj, pruner=pruner
    )
    _replay(book, history)
    tried = [r.params for r in history if r.state in studies.FINISHED_STATES]
    for point in search.grid_points():
        if not any(all(p.get(k) == v for k, v in point.items()) for p in tried):
            book.enqueue_trial(point)

    own_executor = not isinstance(executor, Executor)
    pool = make_executor(executor or "local") if own_executor else executor
    width = max_concurrent or pool.workers
    show = _show_progress(progress)
    loop = _Loop(store, study, book, search, objective, pool, history, callbacks)
    try:
        with start_run(
            name,
            experiment=experiment,
            tags={"cairn.study": name, "cairn.study.version": study.version},
            params={"metric": metric, "mode": mode, "sampler": sampler_name,
                    "scheduler": scheduler_name},
        ) as study_run:  # fmt: skip
            server = DecisionServer(loop.decide) if scheduler_name != "none" else None
            try:
                with TuneProgress(name, total, loop.finished, show) as bar:
                    loop.run(study_run, total, width, time_budget, server, bar)
            finally:
                if server is not None:
                    server.close()
    finally:
        if own_executor:
            pool.shutdown(wait=True)
    records = studies.load_trials(store, study, curves=True)
    return TuneResult(study, records, store, study_run.id, resumed=len(tried))


class _Loop:
    def __init__(
        self,
        store,
        study: studies.Study,
        book,
        search: Space,
        objective: Callable,
        pool: Executor,
        history: list[studies.TrialRecord],
        callbacks: Sequence[Callable],
    ) -> None:
        self.store, self.study, self.book, self.search = store, study, book, search
        self.objective, self.pool, self.callbacks = objective, pool, callbacks
        self.lock = threading.Lock()  # the Optuna study is shared with the decision server
        self.asked: dict[int, object] = {}  # trial number -> optuna.Trial, while running
        done = [r for r in history if r.state in studies.FINISHED_STATES]
        self.finished = len(done)
        self.counts = {
            state: sum(r.state == state for r in done) for state in (TRIAL_PRUNED, FAILED)
        }
        self.best = _best([r.value for r in done if r.state == COMPLETED], study.mode)
        self.next_number = max((r.number for r in history), default=-1) + 1

    def decide(self, number: int, step: int, value: float) -> bool:
        with self.lock:
            asked = self.asked.get(number)
            if asked is None:
                return False
            asked.report(value, step)
            return asked.should_prune()

    def run(self, study_run: Run, total: float, width: int, budget, server, bar) -> None:
        deadline = math.inf if budget is None else time.monotonic() + budget
        inflight: dict[Future, _InFlight] = {}
        try:
            while True:
                while (
                    len(inflight) < width
                    and self.finished + len(inflight) < total
                    and time.monotonic() < deadline
                ):
                    future, job = self._launch(study_run, server)
                    inflight[future] = job
                    self._show(bar, len(inflight))
                if not inflight:
                    return
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle(inflight.pop(future), future)
                self._show(bar, len(inflight))
        except BaseException:
            for future, job in inflight.items():
                future.cancel()
                self._abandon(job)
            raise

    def _show(self, bar: TuneProgress, running: int) -> None:
        pruned, failed = self.counts[TRIAL_PRUNED], self.counts[FAILED]
        bar.update(self.finished, running, pruned, failed, self.best)

    def _launch(self, study_run: Run, server: DecisionServer | None) -> tuple[Future, _InFlight]:
        from optuna.distributions import distribution_to_json

        number, self.next_number = self.next_number, self.next_number + 1
        with self.lock:
            asked = self.book.ask()
            params = self.search.draw(asked)
            self.asked[number] = asked
        record = studies.TrialRecord(
            number=number,
            state=studies.RUNNING,
            value=None,
            params=params,
            distributions={k: distribution_to_json(d) for k, d in asked.distributions.items()},
            run_id="",
            started=time.time(),
            ended=None,
        )

        def insert_trial(conn: sa.Connection, run_id: str) -> None:
            record.run_id = run_id
            studies.insert_trial(conn, self.study, record)

        run = start_run(
            f"trial-{number}",
            parent=study_run,
            params=params,
            capture=False,
            activate=False,
            store=self.store,
            also=insert_trial,
        )
        spec = TrialSpec(
            number, params, self.study.metric, context_of(run), server and server.address
        )
        return self.pool.submit(run_trial, self.objective, spec), _InFlight(record, asked, run)

    def _settle(self, job: _InFlight, future: Future) -> None:
        from optuna.trial import TrialState

        try:
            state, value, error = future.result()
        except Exception as exc:  # the worker died, or the trial could not be sent
            state, value = FAILED, None
            error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        record = job.record
        with self.lock:
            del self.asked[record.number]
            if state == COMPLETED:
                self.book.tell(job.asked, value)
            else:
                failed = state == FAILED
                self.book.tell(job.asked, state=TrialState.FAIL if failed else TrialState.PRUNED)
        record.state, record.value, record.ended = state, value, time.time()
        job.run.end(RUN_STATUS[state], error, also=self._updater(record))
        self.finished += 1
        if state == COMPLETED:
            self.best = _best([value, self.best], self.study.mode)
        else:
            self.counts[state] += 1
        for callback in self.callbacks:
            callback(record)

    def _abandon(self, job: _InFlight) -> None:
        """A trial cut off by Ctrl-C or an error in the loop: recorded as killed."""
        with self.lock:
            self.asked.pop(job.record.number, None)
        record = job.record
        record.state, record.ended = studies.KILLED, time.time()
        job.run.end(KILLED, "the search was interrupted", also=self._updater(record))

    def _updater(self, record: studies.TrialRecord) -> Callable[[sa.Connection], None]:
        return lambda conn: studies.update_trial(conn, self.study, record)


def _replay(book, history: list[studies.TrialRecord]) -> None:
    """Tell the sampler (and the pruner) about the trials of earlier calls."""
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState

    states = {
        COMPLETED: TrialState.COMPLETE,
        TRIAL_PRUNED: TrialState.PRUNED,
        FAILED: TrialState.FAIL,
    }
    for record in history:
        if record.state not in states:
            continue
        distributions = {k: json_to_distribution(v) for k, v in record.distributions.items()}
        book.add_trial(
            optuna.trial.create_trial(
                state=states[record.state],
                value=record.value if record.state == COMPLETED else None,
                params={k: record.params[k] for k in distributions},
                distributions=distributions,
                intermediate_values={
                    step: v for step, v in record.curve.items() if not math.isnan(v)
                },
            )
        )


def _check_sendable(objective: Callable) -> None:
    """Trials in other processes need the objective pickled: say so before anything runs."""
    import cloudpickle

    try:
        cloudpickle.dumps(objective)
    except Exception as exc:
        raise InvalidValueError(
            f"the objective cannot be sent to worker processes ({exc}); define it at module "
            "level, keep unpicklable things (open files, locks, clients) out of its closure, "
            "or use executor='thread'"
        ) from None


def _total_trials(n_trials: int | None, time_budget: float | None, grid_points: int) -> float:
    if time_budget is not None and not (isinstance(time_budget, int | float) and time_budget > 0):
        raise InvalidValueError(
            f"time_budget must be a positive number of seconds, got {time_budget!r}"
        )
    if n_trials is None:
        if grid_points:
            return grid_points
        if time_budget is None:
            raise InvalidValueError("give n_trials, a time_budget, or both")
        return math.inf
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    return n_trials


def _best(values: list[float | None], mode: str) -> float | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def _default_name(objective: Callable) -> str:
    label = getattr(objective, "__name__", "tune")
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)
    return f"{stem.strip('-') or 'tune'}-{time.strftime('%Y%m%d-%H%M%S')}"


def _show_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress
