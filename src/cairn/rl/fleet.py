"""The rollout actors of an executor, and how an iteration's work is split among them: the
antithetic pairs (or the evaluation's episodes) in contiguous shares, one call per actor,
the results joined back in their order.

An executor has no way to stop one actor, so actors live as long as their executor: the
trainings that run on one executor share its actors, made by the first that needed them,
rather than each leaving its own behind (on Ray, each would hold a CPU for good, and the
next training's actors would wait for ever).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from cairn.compute import ActorHandle, Executor, ExecutorOptions
from cairn.rl.workers import Population, Rollouts, RolloutWorker, Scenario

_lock = threading.Lock()
# Per executor (forgotten with it) and per task options: the actors made there so far.
_made: weakref.WeakKeyDictionary[Executor, dict[object, list[ActorHandle]]] = (
    weakref.WeakKeyDictionary()
)


class Fleet:
    """Actors running one training's scenario."""

    def __init__(self, actors: list[ActorHandle], scenario: Scenario, forget: Callable) -> None:
        self.actors = actors
        self.scenario = scenario
        self._forget = forget

    def perturbed(self, population: Population) -> tuple[Rollouts, Rollouts]:
        """`RolloutWorker.perturbed` of the whole population, shared out: the pairs'
        results shaped (2, pairs, episodes), the center's an episode each."""
        counts = len(population.indices), len(population.center_seeds)
        parts = self._gather(
            [
                actor.perturbed(population.share(pairs, center))
                for actor, pairs, center in self._shares(*counts)
            ]
        )
        return _joined([p for p, _ in parts], axis=1), _joined([c for _, c in parts], axis=0)

    def evaluate(
        self, params: np.ndarray, seeds: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None
    ) -> Rollouts:
        """One episode of the policy `params` per seed."""
        parts = self._gather(
            [
                actor.evaluate(self.scenario, params, seeds[share], mean, std)
                for actor, share, _ in self._shares(len(seeds), 0)
            ]
        )
        return _joined(parts, axis=0)

    def _gather(self, futures: list[Future]) -> list:
        try:
            return [future.result() for future in futures]
        except BaseException:
            # An actor may be gone (its process died): the next training makes new ones.
            self._forget()
            raise

    def _shares(self, *counts: int) -> list[tuple[ActorHandle, slice, slice]]:
        """Each actor's contiguous share of `counts[0]` items and of `counts[1]`."""
        cuts = [np.linspace(0, count, len(self.actors) + 1).round().astype(int) for count in counts]
        shares = []
        for number, actor in enumerate(self.actors):
            slices = [slice(cut[number], cut[number + 1]) for cut in cuts]
            if any(s.stop > s.start for s in slices):
                shares.append((actor, *slices))
        return shares


def fleet_for(executor: Executor | ExecutorOptions, count: int, scenario: Scenario) -> Fleet:
    """`count` rollout actors on `executor`: those earlier trainings made there, and new
    ones if they were fewer, started before this returns."""
    base, options = executor.target()
    with _lock:
        made = _made.setdefault(base, {}).setdefault(options, [])
        new = [executor.actor(RolloutWorker) for _ in range(count - len(made))]
        made.extend(new)
        actors = made[:count]
    # Started before the first iteration, so that its time measures rollouts only (and an
    # actor that cannot start fails here).
    for started in [actor.ready() for actor in new]:
        started.result()

    def forget() -> None:
        with _lock:
            made[:] = [actor for actor in made if actor not in actors]

    return Fleet(actors, scenario, forget)


def _joined(parts: list[Rollouts], axis: int) -> Rollouts:
    def join(name: str) -> np.ndarray | None:
        arrays = [getattr(part, name) for part in parts]
        return None if arrays[0] is None else np.concatenate(arrays, axis=axis)

    return Rollouts(join("returns"), join("lengths"), join("obs_total"), join("obs_total_sq"))
