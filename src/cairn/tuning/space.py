"""A search space: a dict of parameters, or a function that draws them, as one thing the
tuner can draw from, enumerate the grid of, and tell apart from another space.

A dict maps parameter names to a distribution (`cairn.uniform`, `randint`, `randn`, ...:
`tuning/distributions.py`) or a constant. A function `space(t)` draws parameters itself
(`t.uniform("lr", 1e-4, 1e-1)`), so one parameter can depend on another.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
from collections.abc import Callable, Mapping

import blake3

from cairn.errors import InvalidValueError
from cairn.tuning.distributions import Distribution, Grid, Scalar
from cairn.tuning.draw import Draw

KINDS = "cairn.uniform, quniform, loguniform, randn, randint, qrandint, lograndint, choice, grid"


class Space:
    """A dict or a function, made into one thing the tuner can draw from and compare."""

    def __init__(self, space: Mapping[str, Distribution | Scalar] | Callable) -> None:
        if callable(space) and not isinstance(space, Mapping):
            self._fn: Callable | None = space
            self._dict: dict = {}
            return
        if not isinstance(space, Mapping):
            raise InvalidValueError(
                f"space must be a dict of name -> {KINDS} (or a constant), "
                f"or a function space(t); got {type(space).__name__}"
            )
        if not space:
            raise InvalidValueError("space is empty: give at least one parameter to search")
        for name, dist in space.items():
            if not isinstance(name, str) or not name:
                raise InvalidValueError(f"space keys must be parameter names, got {name!r}")
            if not isinstance(dist, Distribution | Scalar):
                hint = " (use cairn.choice([...]) for options)" if isinstance(dist, list) else ""
                raise InvalidValueError(
                    f"space[{name!r}] is {dist!r}: expected {KINDS} or a constant{hint}"
                )
        self._fn = None
        self._dict = dict(space)

    def draw(self, trial: object) -> Draw:
        """Draw every parameter through an Optuna trial: the `Draw` holds their values and
        the distributions they came from."""
        draw = Draw(trial)
        if self._fn is not None:
            self._fn(draw)
            if not draw.params:
                raise InvalidValueError("the space function drew no parameter")
        else:
            for name, dist in self._dict.items():
                draw.draw(name, dist)
        return draw

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
    if not isinstance(dist, Distribution):
        return {"kind": "constant", "value": dist}
    # Fields at their defaults are left out, so spaces written before a field existed keep
    # their fingerprint, and their studies resume.
    fields = {
        field.name: getattr(dist, field.name)
        for field in dataclasses.fields(dist)
        if getattr(dist, field.name) != field.default
    }
    return {"kind": type(dist).__name__.lower(), **fields}
