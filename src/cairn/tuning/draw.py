"""Drawing parameters through an Optuna trial, and replaying stored draws into a study.

Every value comes from the sampler through one of Optuna's distributions, so TPE and the
others model every parameter, and each trial keeps the JSON of the distributions it was
drawn from: a resumed study replays them before it asks for anything new.

Optuna has no normal distribution. `randn` is drawn as u, uniform in [0, 1] (Optuna's
FloatDistribution), and mapped through the normal's inverse CDF (`NormalDist.inv_cdf`),
as Ray Tune's samplers map quantiles: the sampler models u, and a TPE kernel over u is
one over the normal's quantiles. Its stored JSON names the normal (`cairn.Normal`), so a
resumed study maps the value back to u through the CDF and replays it like the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from statistics import NormalDist
from typing import TYPE_CHECKING

from cairn.errors import InvalidValueError
from cairn.tuning.distributions import (
    Choice,
    Distribution,
    LogUniform,
    Normal,
    RandInt,
    Scalar,
    Uniform,
    choice,
    lograndint,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    uniform,
)

if TYPE_CHECKING:  # Optuna is imported when a search starts, not with cairn
    from optuna.distributions import BaseDistribution

NORMAL = "cairn.Normal"  # the stored name of randn's distribution; the others are Optuna's
EDGE = 1e-12  # u is kept this far inside [0, 1]: the normal's quantile of 0 or 1 is infinite


class Draw:
    """What a space function receives: each method draws one parameter through the sampler.

    `t.uniform("x", 0, 1, step=0.1)`, `t.randint("n", 1, 1024, log=True)`, `t.randn("z")`,
    ... take the arguments of `cairn.uniform`, `cairn.randint`, `cairn.randn`, ... after
    the parameter's name, and return its value."""

    def __init__(self, trial: object) -> None:
        self._trial = trial  # an optuna.Trial
        self.params: dict[str, Scalar] = {}
        self.distributions: dict[str, str] = {}  # name -> the JSON it was drawn from

    def uniform(self, name: str, low: float, high: float, step: float | None = None) -> float:
        return self.draw(name, _named(name, uniform, low, high, step))

    def quniform(self, name: str, low: float, high: float, q: float) -> float:
        return self.draw(name, _named(name, quniform, low, high, q))

    def loguniform(self, name: str, low: float, high: float) -> float:
        return self.draw(name, _named(name, loguniform, low, high))

    def randint(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return self.draw(name, _named(name, randint, low, high, step, log))

    def qrandint(self, name: str, low: int, high: int, q: int) -> int:
        return self.draw(name, _named(name, qrandint, low, high, q))

    def lograndint(self, name: str, low: int, high: int) -> int:
        return self.draw(name, _named(name, lograndint, low, high))

    def randn(self, name: str, mean: float = 0.0, sd: float = 1.0) -> float:
        return self.draw(name, _named(name, randn, mean, sd))

    def choice(self, name: str, options: Sequence[Scalar]) -> Scalar:
        return self.draw(name, _named(name, choice, options))

    def draw(self, name: str, dist: Distribution | Scalar) -> Scalar:
        """Draw `name` from `dist`; a constant is its own value and is not drawn."""
        if not isinstance(dist, Distribution):
            self.params[name] = dist
            return dist
        if isinstance(dist, Normal):
            u = min(max(self._trial.suggest_float(name, 0.0, 1.0), EDGE), 1 - EDGE)
            value = dist.mean + dist.sd * NormalDist().inv_cdf(u)
            attributes = {"mean": dist.mean, "sd": dist.sd}
            self.distributions[name] = json.dumps({"name": NORMAL, "attributes": attributes})
        else:
            from optuna.distributions import distribution_to_json

            optuna_dist = _optuna(dist)
            value = _suggest(self._trial, name, optuna_dist)
            if isinstance(dist, Uniform) and dist.step is not None:
                value = _on_step(value, dist.low, dist.step)
            self.distributions[name] = distribution_to_json(optuna_dist)
        self.params[name] = value
        return value


def replayed(
    distributions: dict[str, str], params: dict[str, Scalar]
) -> tuple[dict[str, BaseDistribution], dict[str, Scalar]]:
    """A stored trial's distributions as Optuna's, and its values as the sampler drew them."""
    from optuna.distributions import FloatDistribution, json_to_distribution

    optuna_dists: dict[str, BaseDistribution] = {}
    drawn: dict[str, Scalar] = {}
    for name, text in distributions.items():
        stored = json.loads(text)
        if stored.get("name") == NORMAL:
            normal = NormalDist(stored["attributes"]["mean"], stored["attributes"]["sd"])
            optuna_dists[name] = FloatDistribution(0.0, 1.0)
            drawn[name] = normal.cdf(params[name])
        else:
            optuna_dists[name], drawn[name] = json_to_distribution(text), params[name]
    return optuna_dists, drawn


def _named(name: str, make: Callable[..., Distribution], *args: object) -> Distribution:
    """`make(*args)`, its error naming the parameter it was for."""
    try:
        return make(*args)
    except InvalidValueError as exc:
        raise InvalidValueError(f"parameter {name!r}: {exc}") from None


def _optuna(dist: Distribution) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, Uniform):
        if dist.step is None:
            return FloatDistribution(dist.low, dist.high)
        return FloatDistribution(dist.low, _top(dist.low, dist.high, dist.step), step=dist.step)
    if isinstance(dist, LogUniform):
        return FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, RandInt):
        top = dist.low + (dist.high - 1 - dist.low) // dist.step * dist.step
        return IntDistribution(dist.low, top, log=dist.log, step=dist.step)
    return CategoricalDistribution(dist.options if isinstance(dist, Choice) else dist.values)


def _suggest(trial: object, name: str, dist: BaseDistribution) -> Scalar:
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)


def _top(low: float, high: float, step: float) -> float:
    """The last of low, low + step, ... at or below high, in decimal as Optuna computes it
    (so Optuna has nothing to adjust, and warns of nothing)."""
    d_low, d_step = Decimal(str(low)), Decimal(str(step))
    return float((Decimal(str(high)) - d_low) // d_step * d_step + d_low)


def _on_step(value: float, low: float, step: float) -> float:
    """The step `value` is on, written without binary residue: 0.3, not 0.30000000000000004."""
    steps = round((value - low) / step)
    return float(Decimal(str(low)) + steps * Decimal(str(step)))
