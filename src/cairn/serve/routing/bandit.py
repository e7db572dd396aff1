"""Bandit routing: the versions whose answers earn the most reward get the most traffic,
learnt from the rewards clients post for predictions (`feedback`).

Two algorithms:

- Exp3 (Auer, Cesa-Bianchi, Freund, Schapire 2002): exponential weights with a share
  `gamma` of uniform exploration. It assumes nothing about how rewards come about (they may
  drift or be adversarial), and never stops sending `gamma / K` of the traffic to each
  version. Rewards must lie in [0, 1]: others are clipped to it.
- Thompson sampling: each request goes to the version whose reward, drawn from its
  posterior, is highest. While every reward seen lies in [0, 1] the posteriors are Beta
  (Beta(1, 1) prior; a reward r counts as r successes and 1 - r failures, Agrawal and Goyal
  2012). From the first reward outside [0, 1] on, they are Gaussian: each version's mean is
  drawn from N((sum + m) / (n + 1), v / (n + 1)), where m and v are the mean and variance of
  all rewards of all versions (an empirical prior worth one reward).

Rewards arrive when clients send them, long after and not for every answer. Exp3 weighs a
reward by the version's probability when the reward arrives, not when the answer was chosen:
the two differ little since probabilities move slowly, and the interface stays one call. With
several server processes each learns from the feedback it receives.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from itertools import accumulate

import numpy as np

from cairn.errors import InvalidValueError
from cairn.serve.routing.protocol import Choice, RouteKind, Router
from cairn.serve.routing.spec import parse_fraction, parse_params, parse_versions

_BLOCK = 64  # Thompson draws made at once


def _arms(args: str, known: tuple[str, ...]) -> tuple[tuple[int, ...], dict[str, str]]:
    """The versions and parameters of `V,V[,...][:key=value...]`."""
    versions, *params = args.split(":")
    return parse_versions(versions, at_least=2), parse_params(params, known)


def _finite(reward: float) -> float:
    reward = float(reward)
    if not math.isfinite(reward):
        raise InvalidValueError(f"a reward must be a finite number, got {reward}")
    return reward


class Exp3Router(Router):
    """Exp3 over the versions: draws by exponential weights mixed with uniform exploration."""

    kind = RouteKind.BANDIT
    spec_name = "bandit:exp3"
    usage = "bandit:exp3:V,V[,...][:gamma=G] (G in (0, 1], default 0.1; rewards in [0, 1])"

    def __init__(self, versions: tuple[int, ...], rng: random.Random, gamma: float = 0.1) -> None:
        self.default: object | None = None
        self._gamma = gamma
        self._index = {version: i for i, version in enumerate(versions)}
        self._choices = [Choice(version, RouteKind.BANDIT) for version in versions]
        # Log-weights, kept at most 0 so the exponentials neither overflow nor lose precision.
        self._log_weights = [0.0] * len(versions)
        self._random = rng.random
        self._versions = frozenset(versions)
        self._update()

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> Exp3Router:
        versions, params = _arms(args, ("gamma",))
        gamma = parse_fraction(params.get("gamma", "0.1"), "gamma")
        return cls(versions, rng, gamma)

    def versions(self) -> frozenset[int]:
        return self._versions

    def choose(self) -> Choice:
        return self._choices[bisect_right(self._bounds, self._random())]

    def feedback(self, version: int, reward: float) -> None:
        arm = self._index.get(version)
        if arm is None:
            return
        reward = min(1.0, max(0.0, _finite(reward)))
        # The importance-weighted estimate reward / p keeps the update unbiased; p >= gamma/K
        # bounds each step by 1.
        arms = len(self._choices)
        self._log_weights[arm] += self._gamma * reward / (arms * self._probabilities[arm])
        self._update()

    def _update(self) -> None:
        top = max(self._log_weights)
        self._log_weights = [w - top for w in self._log_weights]
        weights = [math.exp(w) for w in self._log_weights]
        total = sum(weights)
        arms = len(weights)
        self._probabilities = [(1 - self._gamma) * w / total + self._gamma / arms for w in weights]
        self._bounds = list(accumulate(self._probabilities))
        self._bounds[-1] = math.inf  # rounding must never send a draw past the last version


class ThompsonRouter(Router):
    """Thompson sampling over the versions: Beta posteriors for rewards in [0, 1], Gaussian
    once a reward falls outside."""

    kind = RouteKind.BANDIT
    spec_name = "bandit:thompson"
    usage = "bandit:thompson:V,V[,...] (rewards in [0, 1]: Beta; any other reward: Gaussian)"

    def __init__(self, versions: tuple[int, ...], rng: random.Random) -> None:
        self.default: object | None = None
        self._index = {version: i for i, version in enumerate(versions)}
        self._choices = [Choice(version, RouteKind.BANDIT) for version in versions]
        arms = len(versions)
        self._counts = [0] * arms
        self._sums = [0.0] * arms
        self._squares = 0.0  # of every reward, for the Gaussian prior's variance
        self._generator = np.random.default_rng(rng.getrandbits(64))
        self._bounded = True  # every reward so far in [0, 1]: Beta posteriors
        self._draw = self._generator.beta
        self._params = (np.ones(arms), np.ones(arms))
        self._picks: list[Choice] = []
        self._versions = frozenset(versions)

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> ThompsonRouter:
        versions, _ = _arms(args, ())
        return cls(versions, rng)

    def versions(self) -> frozenset[int]:
        return self._versions

    def choose(self) -> Choice:
        if not self._picks:
            self._refill()
        return self._picks.pop()

    def feedback(self, version: int, reward: float) -> None:
        arm = self._index.get(version)
        if arm is None:
            return
        reward = _finite(reward)
        self._counts[arm] += 1
        self._sums[arm] += reward
        self._squares += reward * reward
        if self._bounded and not 0.0 <= reward <= 1.0:
            self._bounded = False
            self._draw = self._generator.normal
        self._params = self._beta() if self._bounded else self._gaussian()

    def _refill(self) -> None:
        # One posterior draw per request costs ~1.2 µs per version in pure Python; drawing a
        # block at once costs ~0.1 µs. The block is at most _BLOCK requests behind the
        # feedback, which itself arrives long after the answers it rewards.
        draws = self._draw(*self._params, size=(_BLOCK, len(self._choices)))
        self._picks = [self._choices[arm] for arm in draws.argmax(axis=1).tolist()]

    def _beta(self) -> tuple[np.ndarray, np.ndarray]:
        counts, sums = np.array(self._counts, dtype=float), np.array(self._sums)
        return 1 + sums, 1 + counts - sums

    def _gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        n = sum(self._counts)
        mean = sum(self._sums) / n
        variance = (self._squares - n * mean * mean) / (n - 1) if n > 1 else 1.0
        # Equal rewards give no spread; a tiny one keeps every draw well defined.
        variance = max(variance, 1e-12 * (1.0 + mean * mean))
        counts, sums = np.array(self._counts, dtype=float), np.array(self._sums)
        return (sums + mean) / (counts + 1), np.sqrt(variance / (counts + 1))
