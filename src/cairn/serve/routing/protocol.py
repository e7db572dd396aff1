"""What a router is: it picks, per request, which version of a model answers (and which get a
copy), and may learn from the rewards fed back for its answers.

Like Optuna's samplers, the protocol is small and its hooks have defaults: a router that does
not learn inherits `feedback` (ignore) and a router that names its versions inherits
`retarget` (keep them). Implementations subclass `Router` to inherit those defaults.

Every method is called on the event loop thread, so routers hold no locks; `choose` runs once
per request and must cost microseconds, so routers build their `Choice` objects ahead of time
and `choose` only draws a random number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from cairn.states import TextEnum


class RouteKind(TextEnum):
    """How a model name's requests are spread over its versions."""

    FIXED = "fixed"  # the alias's version
    SPLIT = "split"  # a weighted canary split
    SHADOW = "shadow"  # the alias's version answers, candidates get a copy
    BANDIT = "bandit"  # the versions that earn the most reward get the most traffic


@dataclass(frozen=True, slots=True)
class Choice:
    """The version that answers a request and the versions that get a copy of it (their
    answers are logged and compared, never returned)."""

    version: int
    route: RouteKind
    shadows: tuple[int, ...] = ()


@runtime_checkable
class Router(Protocol):
    """Picks the version of one model name that answers each request."""

    kind: ClassVar[RouteKind]
    # The answer when the chosen version misses its deadline; set by the hub, not by spec.
    default: object | None = None

    def versions(self) -> frozenset[int]:
        """Every version this router may pick or shadow: the hub loads them all."""
        ...

    def choose(self) -> Choice:
        """The version for the next request. Called per request: microseconds."""
        ...

    def feedback(self, version: int, reward: float) -> None:
        """A reward for an answer `version` gave. Routers that do not learn ignore it, and
        every router ignores a version it does not have."""
        return None

    def retarget(self, alias_version: int) -> Router:
        """The router to use once the alias points to `alias_version`: a new router when
        this one follows the alias, else this one."""
        return self


@runtime_checkable
class RouterFactory(Protocol):
    """A router class as the registry sees it: the spec it answers to and how to build one."""

    spec_name: ClassVar[str]  # the spec's head: "alias", "split", "bandit:exp3"
    usage: ClassVar[str]  # the accepted form, shown when a spec is wrong

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> Router:
        """The router for the spec's text after `spec_name:` ("" when there is none).
        Raises InvalidValueError saying what is wrong with `args`."""
        ...
