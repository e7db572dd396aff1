"""`cairn.tune`'s arguments, checked and resolved before anything is written or started."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cairn.compute import Executor
from cairn.errors import InvalidValueError
from cairn.states import Direction
from cairn.tracking.validation import check_name
from cairn.tuning.decisions import listen_address
from cairn.tuning.space import Space
from cairn.tuning.strategies import make_pruner, make_sampler


@dataclass(frozen=True)
class TuneArguments:
    objective: Callable
    search: Space
    metric: str
    mode: Direction
    total: float  # trials the study should have finished; inf with only a time budget
    time_budget: float | None
    max_concurrent: int | None
    name: str
    sampler: object  # an optuna sampler
    sampler_name: str
    pruner: object  # an optuna pruner
    scheduler_name: str
    executor_url: str
    decisions: tuple[str, int] | None  # where trials' reports are answered; None: no scheduler


def check_arguments(
    objective: Callable,
    space: Mapping | Callable,
    metric: str,
    mode: str,
    n_trials: int | None,
    executor: Executor | str | None,
    sampler: str | object,
    scheduler: str | object | None,
    max_concurrent: int | None,
    name: str | None,
    time_budget: float | None,
    seed: int | None,
) -> TuneArguments:
    if not callable(objective):
        raise InvalidValueError(f"objective must be a function of a trial, got {objective!r}")
    direction = parse_mode(mode)
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
    return TuneArguments(
        objective=objective,
        search=search,
        metric=metric,
        mode=direction,
        total=total,
        time_budget=time_budget,
        max_concurrent=max_concurrent,
        name=name,
        sampler=sampler_obj,
        sampler_name=sampler_name,
        pruner=pruner,
        scheduler_name=scheduler_name,
        executor_url=url,
        decisions=None if scheduler_name == "none" else listen_address(url),
    )


def parse_mode(mode: object) -> Direction:
    try:
        return Direction(mode)
    except ValueError:
        valid = " or ".join(repr(d.value) for d in Direction)
        raise InvalidValueError(f"mode must be {valid}, got {mode!r}") from None


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


def _default_name(objective: Callable) -> str:
    label = getattr(objective, "__name__", "tune")
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)
    return f"{stem.strip('-') or 'tune'}-{time.strftime('%Y%m%d-%H%M%S')}"
