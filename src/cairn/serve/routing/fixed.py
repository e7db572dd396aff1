"""The default route: every request goes to the version the alias points to, and follows the
alias when it moves."""

from __future__ import annotations

import random

from cairn.errors import InvalidValueError
from cairn.serve.routing.protocol import Choice, RouteKind, Router


class FixedRouter(Router):
    """Answers every request with one version: the alias's."""

    kind = RouteKind.FIXED
    spec_name = "alias"
    usage = "alias"

    def __init__(self, version: int) -> None:
        self.default: object | None = None
        self._choice = Choice(version, RouteKind.FIXED)
        self._versions = frozenset((version,))

    @classmethod
    def from_spec(cls, args: str, alias_version: int, rng: random.Random) -> FixedRouter:
        if args:
            raise InvalidValueError("'alias' takes nothing after it")
        return cls(alias_version)

    def versions(self) -> frozenset[int]:
        return self._versions

    def choose(self) -> Choice:
        return self._choice

    def retarget(self, alias_version: int) -> Router:
        if alias_version == self._choice.version:
            return self
        moved = FixedRouter(alias_version)
        moved.default = self.default
        return moved
