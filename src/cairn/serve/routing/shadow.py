"""Shadow traffic: the alias's version answers every request and candidate versions get a
copy, whose answers are logged and compared but never returned.

The primary follows the alias. A candidate the alias has moved to is not shadowed (it is
the primary now); it is shadowed again if the alias moves away from it.
"""

from __future__ import annotations

import random

from cairn.errors import InvalidValueError
from cairn.serve.routing.protocol import Choice, RouteKind, Router
from cairn.serve.routing.spec import parse_versions


class ShadowRouter(Router):
    """Answers with the alias's version and copies each request to the candidates."""

    kind = RouteKind.SHADOW
    spec_name = "shadow"
    usage = "shadow:V[,V...] (candidates, not the alias's version)"

    def __init__(self, primary: int, candidates: tuple[int, ...]) -> None:
        self.default: object | None = None
        self._candidates = candidates
        shadows = tuple(version for version in candidates if version != primary)
        self._choice = Choice(primary, RouteKind.SHADOW, shadows)
        self._versions = frozenset((primary, *shadows))

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> ShadowRouter:
        candidates = parse_versions(args)
        if alias_version in candidates:
            raise InvalidValueError(
                f"version {alias_version} is the alias's version, which answers: "
                "shadow other versions"
            )
        return cls(alias_version, candidates)

    def versions(self) -> frozenset[int]:
        return self._versions

    def choose(self) -> Choice:
        return self._choice

    def retarget(self, alias_version: int) -> Router:
        if alias_version == self._choice.version:
            return self
        moved = ShadowRouter(alias_version, self._candidates)
        moved.default = self.default
        return moved
