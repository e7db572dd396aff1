"""The rollout actor: it keeps its gymnasium environments (by environment id) and its noise
tables (one per seed, built once per process) between calls, so each iteration sends it
only the parameters, the noise indices and the episode seeds, and it sends back returns and
step counts. It holds nothing of one training, so the trainings that share an executor
share its actors.

The episodes of a call run in lockstep: one environment per episode, and at each step one
batched forward pass gives every live episode its action, so the NumPy overhead of a step
is paid once for the batch rather than once per episode. An episode's result depends only
on its parameters and its seed, never on which worker ran it or beside which others: a
training's history is the same for any number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cairn.rl.environments import make_env
from cairn.rl.noise import NoiseTable
from cairn.rl.policies import Architecture, Discrete

if TYPE_CHECKING:
    import gymnasium


@dataclass(frozen=True)
class Scenario:
    """What a training's episodes are: its environment, the architecture of its policies,
    and its noise table (which travels as its seed and size)."""

    env_id: str
    architecture: Architecture
    noise: NoiseTable


@dataclass(frozen=True)
class Population:
    """One iteration's episodes: for each noise index, the pair params +- sigma *
    noise[index], each run for the episodes of its row of `seeds` (a pair shares its
    seeds); and `params` itself, the center, for an episode per center seed. Observations
    are normalized with `mean` and `std` (None: as they are), and summed if `observe`."""

    scenario: Scenario
    params: np.ndarray
    sigma: float
    indices: np.ndarray
    seeds: np.ndarray  # (pairs, episodes)
    center_seeds: np.ndarray
    mean: np.ndarray | None
    std: np.ndarray | None
    observe: bool

    def share(self, pairs: slice, center: slice) -> Population:
        """These pairs and these center episodes of the population."""
        return replace(
            self,
            indices=self.indices[pairs],
            seeds=self.seeds[pairs],
            center_seeds=self.center_seeds[center],
        )


@dataclass(frozen=True)
class Rollouts:
    """What a batch of episodes gave: per episode its return and length, and the sum and
    sum of squares of the observations its policy read (None unless asked for)."""

    returns: np.ndarray
    lengths: np.ndarray
    obs_total: np.ndarray | None
    obs_total_sq: np.ndarray | None

    def part(self, episodes: slice, shape: tuple[int, ...]) -> Rollouts:
        """These `episodes`, shaped `shape` (the observation sums keep their last axis)."""

        def cut(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[episodes].reshape(*shape, values.shape[-1])

        return Rollouts(
            self.returns[episodes].reshape(shape),
            self.lengths[episodes].reshape(shape),
            cut(self.obs_total),
            cut(self.obs_total_sq),
        )


class RolloutWorker:
    """Runs episodes of any scenario; keeps the environments it made for the next call."""

    def __init__(self) -> None:
        self._envs: dict[str, list[gymnasium.Env]] = {}

    def ready(self) -> None:
        """Returns once the worker is up (its process started, cairn imported)."""

    def perturbed(self, population: Population) -> tuple[Rollouts, Rollouts]:
        """The population's antithetic pairs and its center, all in one lockstep batch:
        the pairs' results shaped (2, pairs, episodes), plus first; the center's an episode
        each (its observations are not counted)."""
        p = population
        pairs, episodes = p.seeds.shape
        noise = p.scenario.noise.rows(p.indices, len(p.params)) * p.sigma
        policies = np.concatenate(
            [
                np.repeat(np.concatenate([p.params + noise, p.params - noise]), episodes, axis=0),
                np.broadcast_to(p.params, (len(p.center_seeds), len(p.params))),
            ]
        )
        seeds = np.concatenate([np.tile(p.seeds.ravel(), 2), p.center_seeds])
        ran = self._run(p.scenario, policies, seeds, p.mean, p.std, p.observe)
        size = 2 * pairs * episodes
        center = Rollouts(ran.returns[size:], ran.lengths[size:], None, None)
        return ran.part(slice(0, size), (2, pairs, episodes)), center

    def evaluate(
        self,
        scenario: Scenario,
        params: np.ndarray,
        seeds: np.ndarray,
        mean: np.ndarray | None,
        std: np.ndarray | None,
    ) -> Rollouts:
        """One episode of the policy `params` per seed."""
        return self._run(scenario, params, seeds, mean, std, observe=False)

    def _run(
        self,
        scenario: Scenario,
        params: np.ndarray,
        seeds: np.ndarray,
        mean: np.ndarray | None,
        std: np.ndarray | None,
        observe: bool,
    ) -> Rollouts:
        """One episode per seed, in lockstep; `params` is one vector for all, or one row each."""
        count = len(seeds)
        kept = self._envs.setdefault(scenario.env_id, [])
        while len(kept) < count:
            kept.append(make_env(scenario.env_id))
        envs = kept[:count]
        network, head = scenario.architecture.network, scenario.architecture.head
        discrete = isinstance(head, Discrete)
        # In the observations' own shape: a step's observation is stored as it comes.
        obs = np.stack(
            [env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds, strict=True)]
        ).astype(np.float64)
        returns = np.zeros(count)
        lengths = np.zeros(count, dtype=np.int64)
        total = obs.copy() if observe else None
        total_sq = np.square(obs) if observe else None
        live = np.arange(count)
        while live.size:
            x = obs[live].reshape(live.size, -1)
            if mean is not None:
                x = (x - mean) / std
            actions = head.act(network.forward(params[live] if params.ndim == 2 else params, x))
            if discrete:
                actions = actions.tolist()  # ints: what a Discrete space checks fastest
            still = []
            for j, action in zip(live.tolist(), actions, strict=True):
                observation, reward, terminated, truncated, _ = envs[j].step(action)
                returns[j] += reward
                lengths[j] += 1
                if not (terminated or truncated):
                    obs[j] = observation
                    still.append(j)
            live = np.array(still, dtype=np.int64)
            if observe and live.size:
                total[live] += obs[live]
                total_sq[live] += np.square(obs[live])
        if observe:
            total, total_sq = total.reshape(count, -1), total_sq.reshape(count, -1)
        return Rollouts(returns, lengths, total, total_sq)
