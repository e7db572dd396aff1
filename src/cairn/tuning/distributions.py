"""What one parameter of a search space can be, and the checks that refuse a bad one.

Floats: `uniform` (optionally on a `step`), `quniform`, `loguniform`, `randn` (normal).
Integers: `randint` (optionally on a `step` or log-scaled), `qrandint`, `lograndint`.
Options: `choice`, and `grid` (every value tried). The names and bounds are Ray Tune's:
`randint` and `lograndint` exclude `high`, as numpy does; the quantized `quniform` and
`qrandint` include it, since their values are the steps from `low` up to `high`. A step
that does not divide the range stops at the last value below `high`, as in Optuna.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from cairn.errors import InvalidValueError

Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float
    step: float | None = None  # values low, low + step, ... up to high


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class RandInt:
    low: int
    high: int  # exclusive, as in numpy and Ray Tune
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class Normal:
    mean: float
    sd: float


@dataclass(frozen=True)
class Choice:
    options: tuple[Scalar, ...]


@dataclass(frozen=True)
class Grid:
    values: tuple[Scalar, ...]


Distribution = Uniform | LogUniform | RandInt | Normal | Choice | Grid


def uniform(low: float, high: float, step: float | None = None) -> Uniform:
    """A float drawn evenly from [low, high]; with `step`, one of low, low + step, ..."""
    low, high = _float_bounds("uniform", low, high)
    return Uniform(
        low, high, None if step is None else _float_step("uniform", "step", step, high - low)
    )


def quniform(low: float, high: float, q: float) -> Uniform:
    """A float among low, low + q, ... up to `high`: `uniform(low, high, step=q)`."""
    low, high = _float_bounds("quniform", low, high)
    return Uniform(low, high, _float_step("quniform", "q", q, high - low))


def loguniform(low: float, high: float) -> LogUniform:
    """A float in [low, high] whose logarithm is uniform: learning rates, penalties."""
    low, high = _float_bounds("loguniform", low, high)
    if low <= 0:
        raise InvalidValueError(f"loguniform needs 0 < low, got low={low}")
    return LogUniform(low, high)


def randint(low: int, high: int, step: int = 1, log: bool = False) -> RandInt:
    """An integer in [low, high): `high` is excluded, as in numpy and Ray Tune. With `step`,
    one of low, low + step, ...; with `log=True`, its logarithm is uniform (needs 1 <= low,
    and no step: Optuna does not draw both)."""
    kind = "randint(log=True)" if log is True else "randint"
    _int_bounds(kind, low, high, "(high is excluded)")
    if not isinstance(log, bool):
        raise InvalidValueError(f"randint's log must be True or False, got log={log!r}")
    if log and low < 1:
        raise InvalidValueError(f"{kind} needs 1 <= low for a log scale, got low={low}")
    if log and step != 1:
        raise InvalidValueError(
            f"{kind} cannot also have a step (Optuna draws neither), got step={step!r}"
        )
    return RandInt(int(low), int(high), _int_step(kind, step, int(high) - 1 - int(low)), log)


def qrandint(low: int, high: int, q: int) -> RandInt:
    """An integer among low, low + q, ... up to `high` included (as Ray Tune's qrandint)."""
    _int_bounds("qrandint", low, high, "(high is included)")
    return RandInt(int(low), int(high) + 1, _int_step("qrandint", q, int(high) - int(low)))


def lograndint(low: int, high: int) -> RandInt:
    """An integer in [low, high) whose logarithm is uniform: sizes, counts. Needs 1 <= low."""
    _int_bounds("lograndint", low, high, "(high is excluded)")
    if low < 1:
        raise InvalidValueError(f"lograndint needs 1 <= low for a log scale, got low={low}")
    return RandInt(int(low), int(high), 1, True)


def randn(mean: float = 0.0, sd: float = 1.0) -> Normal:
    """A float from the normal distribution with this mean and standard deviation."""
    mean = _finite("randn", "mean", mean)
    return Normal(mean, _positive("randn", "sd", sd))


def choice(options: Sequence[Scalar]) -> Choice:
    """One of `options` (numbers, strings, booleans or None)."""
    return Choice(_scalars("choice", options))


def grid(values: Sequence[Scalar]) -> Grid:
    """Every value is tried: each combination of a space's grid parameters gets a trial
    first; trials past those draw from the same values as a `choice`."""
    return Grid(_scalars("grid", values))


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_bounds(kind: str, low: object, high: object, which: str) -> None:
    if not (_is_int(low) and _is_int(high)):
        raise InvalidValueError(f"{kind} needs integer bounds, got low={low!r}, high={high!r}")
    if low >= high:
        raise InvalidValueError(f"{kind} needs low < high {which}, got low={low}, high={high}")


def _int_step(kind: str, step: object, span: int) -> int:
    """`step` checked against `span`, the distance from low to the largest value."""
    name = "q" if kind == "qrandint" else "step"
    if not _is_int(step) or step < 1:
        raise InvalidValueError(f"{kind} needs a positive integer {name}, got {name}={step!r}")
    if step > 1 and step > span:
        raise InvalidValueError(
            f"{kind}'s {name}={step} is larger than the range ({span}): low would be its only value"
        )
    return int(step)


def _finite(kind: str, what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValueError(f"{kind} needs a number for {what}, got {what}={value!r}")
    if not math.isfinite(value):
        raise InvalidValueError(f"{kind} needs a finite {what}, got {what}={value}")
    return float(value)


def _positive(kind: str, what: str, value: object) -> float:
    value = _finite(kind, what, value)
    if value <= 0:
        raise InvalidValueError(f"{kind} needs {what} > 0, got {what}={value}")
    return value


def _float_step(kind: str, name: str, step: object, span: float) -> float:
    step = _positive(kind, name, step)
    if step > span:
        raise InvalidValueError(
            f"{kind}'s {name}={step} is larger than high - low = {span}: nothing to step to"
        )
    return step


def _float_bounds(kind: str, low: object, high: object) -> tuple[float, float]:
    low, high = _finite(kind, "low", low), _finite(kind, "high", high)
    if low >= high:
        raise InvalidValueError(f"{kind} needs low < high, got low={low}, high={high}")
    return low, high


def _scalars(kind: str, values: Sequence[Scalar]) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidValueError(f"{kind} takes a list of values, got {values!r}")
    values = tuple(values)
    if not values:
        raise InvalidValueError(f"{kind} needs at least one value")
    for value in values:
        if not isinstance(value, Scalar):
            raise InvalidValueError(
                f"{kind} values must be numbers, strings, booleans or None, got {value!r}"
            )
    return values
