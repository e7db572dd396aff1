"""A weighted split between versions (a canary): each request goes to a version with
probability proportional to its weight. The versions are named, so the split stays put when
the alias moves."""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate

from cairn.serve.routing.protocol import Choice, RouteKind, Router
from cairn.serve.routing.spec import parse_weights


class SplitRouter(Router):
    """Sends each request to one version, drawn by weight."""

    kind = RouteKind.SPLIT
    spec_name = "split"
    usage = "split:V=W,V=W[,...] (weights > 0, any total)"

    def __init__(self, weights: dict[int, float], rng: random.Random) -> None:
        self.default: object | None = None
        total = sum(weights.values())
        self._choices = [Choice(version, RouteKind.SPLIT) for version in weights]
        # Thresholds on a uniform draw in [0, 1); the last is infinite so that rounding in
        # the division can never send a draw past the end.
        self._bounds = [edge / total for edge in accumulate(weights.values())]
        self._bounds[-1] = float("inf")
        self._random = rng.random
        self._versions = frozenset(weights)

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> SplitRouter:
        return cls(parse_weights(args), rng)

    def versions(self) -> frozenset[int]:
        return self._versions

    def choose(self) -> Choice:
        return self._choices[bisect_right(self._bounds, self._random())]
