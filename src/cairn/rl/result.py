"""What `cairn.rl.es` hands back."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.rl.history import Iteration
from cairn.rl.policies import Policy
from cairn.tracking import RunRecord


@dataclass(frozen=True)
class ESResult:
    mean_return: float  # of `policy` over the evaluation episodes
    returns: tuple[float, ...]  # each evaluation episode's
    policy: Policy
    run: RunRecord
    iterations: int  # done in all, those before a resume included
    history: list[Iteration]
    target: float | None = None

    @property
    def solved(self) -> bool:
        """Whether the policy reached the target (False without one)."""
        return self.target is not None and self.mean_return >= self.target
