"""Search spaces: `uniform`, `loguniform`, `randint`, `choice`, `grid`, as a dict or a function.

A dict maps parameter names to a distribution or a constant. A function `space(t)` draws
parameters itself (`t.uniform("lr", 1e-4, 1e-1)`), so one parameter can depend on another.
Either way the values are drawn through an Optuna trial, so the sampler sees every draw.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import blake3

from cairn.errors import InvalidValueError

Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class RandInt:
    low: int
    high: int  # exclusive, as in numpy and Ray Tune


@dataclass(frozen=True)
class Choice:
    options: tuple[Scalar, ...]


@dataclass(frozen=True)
class Grid:
    values: tuple[Scalar, ...]


Distribution = Uniform | LogUniform | RandInt | Choice | Grid


def uniform(low: float, high: float) -> Uniform:
    """A float drawn evenly from [low, high]."""
    low, high = _bounds("uniform", low, high)
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """A float in [low, high] whose logarithm is uniform: learning rates, penalties."""
    low, high = _bounds("loguniform", low, high)
    if low <= 0:
        raise InvalidValueError(f"loguniform needs 0 < low, got low={low}")
    return LogUniform(low, high)


def randint(low: int, high: int) -> RandInt:
    """An integer in [low, high): `high` is excluded, as in numpy and Ray Tune."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
        raise InvalidValueError(f"randint needs integers, got {low!r} and {high!r}")
    if low >= high:
        raise InvalidValueError(f"randint needs low < high (high is excluded), got {low}, {high}")
    return RandInt(low, high)


def choice(options: Sequence[Scalar]) -> Choice:
    """One of `options` (numbers, strings, booleans or None)."""
    return Choice(_scalars("choice", options))


def grid(values: Sequence[Scalar]) -> Grid:
    """Every value is tried: each combination of a space's grid parameters gets a trial
    first; trials past those draw from the same values as a `choice`."""
    return Grid(_scalars("grid", values))


def _bounds(kind: str, low: float, high: float) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{kind} needs numbers, got {low!r} and {high!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise InvalidValueError(f"{kind} needs finite low < high, got {low}, {high}")
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


class Draw:
    """What a space function receives: each method draws one parameter through the sampler."""

    def __init__(self, trial: object) -> None:
        self._trial = trial  # an optuna.Trial
        self.params: dict[str, Scalar] = {}

    def uniform(self, name: str, low: float, high: float) -> float:
        return self.draw(name, uniform(low, high))

    def loguniform(self, name: str, low: float, high: float) -> float:
        return self.draw(name, loguniform(low, high))

    def randint(self, name: str, low: int, high: int) -> int:
        return self.draw(name, randint(low, high))

    def choice(self, name: str, options: Sequence[Scalar]) -> Scalar:
        return self.draw(name, choice(options))

    def draw(self, name: str, dist: Distribution | Scalar) -> Scalar:
        trial = self._trial
        if isinstance(dist, Uniform):
            value = trial.suggest_float(name, dist.low, dist.high)
        elif isinstance(dist, LogUniform):
            value = trial.suggest_float(name, dist.low, dist.high, log=True)
        elif isinstance(dist, RandInt):
            value = trial.suggest_int(name, dist.low, dist.high - 1)
        elif isinstance(dist, Choice):
            value = trial.suggest_categorical(name, dist.options)
        elif isinstance(dist, Grid):
            value = trial.suggest_categorical(name, dist.values)
        else:
            value = dist
        self.params[name] = value
        return value


class Space:
    """A dict or a function, made into one thing the tuner can draw from and compare."""

    def __init__(self, space: Mapping[str, Distribution | Scalar] | Callable) -> None:
        if callable(space) and not isinstance(space, Mapping):
            self._fn: Callable | None = space
            self._dict: dict = {}
            return
        if not isinstance(space, Mapping):
            raise InvalidValueError(
                "space must be a dict of name -> cairn.uniform/loguniform/randint/choice/grid "
                f"(or a constant), or a function space(t); got {type(space).__name__}"
            )
        if not space:
            raise InvalidValueError("space is empty: give at least one parameter to search")
        for name, dist in space.items():
            if not isinstance(name, str) or not name:
                raise InvalidValueError(f"space keys must be parameter names, got {name!r}")
            if not isinstance(dist, Distribution | Scalar):
                hint = " (use cairn.choice([...]) for options)" if isinstance(dist, list) else ""
                raise InvalidValueError(
                    f"space[{name!r}] is {dist!r}: expected cairn.uniform, loguniform, randint, "
                    f"choice, grid or a constant{hint}"
                )
        self._fn = None
        self._dict = dict(space)

    def draw(self, trial: object) -> dict[str, Scalar]:
        """Draw every parameter through an Optuna trial; returns name -> value."""
        draw = Draw(trial)
        if self._fn is not None:
            self._fn(draw)
            if not draw.params:
                raise InvalidValueError("the space function drew no parameter")
        else:
            for name, dist in self._dict.items():
                draw.draw(name, dist)
        return draw.params

    def grid_points(self) -> list[dict[str, Scalar]]:
        """Every combination of the grid parameters (none when the space has no grid)."""
        names = [name for name, dist in self._dict.items() if isinstance(dist, Grid)]
        if not names:
            return []
        values = [self._dict[name].values for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def describe(self) -> str:
        """JSON that says what the space is; its digest tells one space from another."""
        if self._fn is not None:
            try:
                source = inspect.getsource(self._fn)
            except (OSError, TypeError):
                source = self._fn.__qualname__
            return json.dumps({"function": self._fn.__qualname__, "source": source})
        return json.dumps(
            {name: _describe(dist) for name, dist in self._dict.items()}, sort_keys=True
        )

    def fingerprint(self) -> str:
        return blake3.blake3(self.describe().encode()).hexdigest()


def _describe(dist: Distribution | Scalar) -> object:
    if isinstance(dist, Distribution):
        return {"kind": type(dist).__name__.lower(), **dist.__dict__}
    return {"kind": "constant", "value": dist}
