"""One trial, where it runs: the `trial` the objective receives, and how its outcome is told.

The trial's run was opened by the tuner; here it is the active run, so the objective can
log to it (`trial.run.log`) or open children of it. `trial.report` logs the value to the
run and, when a scheduler is on, asks the tuner's decision listener (`decisions.py`) whether
to go on; `Pruned` stops the objective when the answer is no.
"""

from __future__ import annotations

import math
import numbers
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection

from cairn.compute.run_context import RunContext, run_inside
from cairn.errors import CairnError, InvalidValueError
from cairn.states import TrialState

Outcome = tuple[TrialState, float | None, str | None]  # state, value, error text


class Pruned(CairnError):
    """Raised by `trial.report` when the scheduler stops the trial; let it propagate."""


@dataclass(frozen=True)
class TrialSpec:
    number: int
    params: dict
    metric: str
    run: RunContext
    decisions: tuple[tuple[str, int], bytes] | None  # the tuner's address and key, or None


class Trial:
    """What the objective receives: `params`, `report(value, step)`, `run`, `number`."""

    def __init__(self, spec: TrialSpec, run: object) -> None:
        self.number = spec.number
        self.params = dict(spec.params)
        self.run = run  # a cairn.Run: the trial's own run, a child of the study's run
        self._spec = spec
        self._connection: Connection | None = None
        self.last_value: float | None = None
        self.steps = 0

    def report(self, value: float, step: int | None = None) -> None:
        """Record the metric's value at `step` (epochs, iterations); raises `cairn.Pruned`
        when the scheduler decides this trial should stop."""
        value = _number(value, f"trial.report({self._spec.metric})")
        step = self.steps if step is None else int(step)
        self.run.log({self._spec.metric: value}, step=step)
        self.last_value, self.steps = value, step + 1
        if self._spec.decisions is None or math.isnan(value):
            return
        if self._connection is None:
            address, key = self._spec.decisions
            self._connection = Client(address, authkey=key)
        self._connection.send((self.number, step, value))
        if self._connection.recv():
            raise Pruned(f"trial {self.number} was stopped by the scheduler at step {step}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def run_trial(objective: Callable, spec: TrialSpec) -> Outcome:
    """Run the objective inside the trial's run; never raises for the objective's faults."""
    return run_inside(spec.run, _attempt, objective, spec)


def _attempt(objective: Callable, spec: TrialSpec) -> Outcome:
    from cairn.tracking import active

    trial = Trial(spec, active.current())
    try:
        returned = objective(trial)
    except Pruned:
        return TrialState.PRUNED, trial.last_value, None
    except Exception:
        return TrialState.FAILED, None, traceback.format_exc()
    finally:
        trial.close()
    try:
        value, extra = _final(returned, spec.metric, trial.last_value)
    except InvalidValueError as exc:
        return TrialState.FAILED, None, str(exc)
    if extra:
        trial.run.log(extra)
    return TrialState.COMPLETED, value, None


def _final(returned: object, metric: str, last_reported: float | None) -> tuple[float, dict]:
    """The trial's value, and the metrics to log for it: the run's latest value of the
    metric is the trial's value, without repeating the last report."""
    if isinstance(returned, Mapping):
        if metric not in returned:
            raise InvalidValueError(
                f"the objective returned a dict without {metric!r} (keys: "
                f"{', '.join(map(str, returned)) or 'none'}); include the metric being tuned"
            )
        value = _number(returned[metric], f"the objective's {metric!r}")
        extra = {k: v for k, v in returned.items() if k != metric}
    elif returned is None:
        raise InvalidValueError(
            f"the objective returned nothing; return the value of {metric!r} "
            "or a dict of metrics that includes it"
        )
    else:
        value = _number(returned, "the objective's return value")
        extra = {}
    if math.isnan(value):
        raise InvalidValueError(f"the objective returned NaN for {metric!r}")
    if value != last_reported:
        extra[metric] = value
    return value, extra


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValueError(f"{what} must be a number, got {value!r}")
    return float(value)
