"""The rollout actor: antithetic pairs from noise indices, episodes in lockstep, and results
that depend only on each episode's parameters and seed."""

from __future__ import annotations

import gymnasium
import numpy as np

from cairn.rl.noise import NoiseTable
from cairn.rl.policies import architecture_for
from cairn.rl.workers import Population, RolloutWorker, Scenario


def cartpole(kind: str = "mlp") -> Scenario:
    env = gymnasium.make("CartPole-v1")
    arch = architecture_for(env.observation_space, env.action_space, kind, (8,))
    return Scenario("CartPole-v1", arch, NoiseTable(11, 20_000))


def test_a_pair_is_the_params_plus_and_minus_sigma_times_the_indexed_noise() -> None:
    scenario, worker = cartpole(), RolloutWorker()
    dim = scenario.architecture.network.n_params
    params = np.random.default_rng(0).normal(size=dim) * 0.5
    indices, sigma = np.array([5, 900]), 0.3
    seeds, center_seeds = np.array([[1, 2], [3, 4]]), np.array([8, 9, 10])
    population, center = worker.perturbed(
        Population(scenario, params, sigma, indices, seeds, center_seeds, None, None, False)
    )
    assert population.returns.shape == population.lengths.shape == (2, 2, 2)
    for pair, index in enumerate(indices):
        for sign, way in ((1, 0), (-1, 1)):
            alone = params + sign * sigma * scenario.noise.get(int(index), dim)
            expected = worker.evaluate(scenario, alone, seeds[pair], None, None)
            assert np.array_equal(population.returns[way, pair], expected.returns)
    alone = worker.evaluate(scenario, params, center_seeds, None, None)
    assert np.array_equal(center.returns, alone.returns)
    assert population.obs_total is None and center.obs_total is None


def test_a_share_of_a_population_is_its_pairs_and_center_episodes() -> None:
    scenario = cartpole()
    whole = Population(
        scenario, np.zeros(3), 0.1, np.arange(5), np.arange(10).reshape(5, 2), np.arange(3),
        None, None, True,
    )  # fmt: skip
    part = whole.share(slice(1, 3), slice(2, 3))
    assert part.indices.tolist() == [1, 2] and part.seeds.tolist() == [[2, 3], [4, 5]]
    assert part.center_seeds.tolist() == [2] and part.scenario is scenario


def test_an_episode_does_not_depend_on_the_others_of_its_batch() -> None:
    scenario, worker = cartpole(), RolloutWorker()
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(6, scenario.architecture.network.n_params))
    seeds = np.arange(100, 106)
    mean, std = np.zeros(4), np.ones(4)
    together = worker._run(scenario, rows, seeds, mean, std, False)
    for row in (0, 3, 5):
        alone = worker._run(scenario, rows[row : row + 1], seeds[row : row + 1], mean, std, False)
        assert alone.returns[0] == together.returns[row]
        assert alone.lengths[0] == together.lengths[row]
    # The same seed, the same policy: the same episode, on a worker of its own.
    other = RolloutWorker()._run(scenario, rows, seeds, None, None, False)
    assert np.array_equal(
        other.returns, worker._run(scenario, rows, seeds, None, None, False).returns
    )


def test_observed_statistics_add_up_what_each_policy_read() -> None:
    scenario, worker = cartpole("linear"), RolloutWorker()
    steering = np.zeros(scenario.architecture.network.n_params)
    steering[:8].reshape(4, 2)[:, 1] = [0.0, 0.0, 1.0, 0.3]
    rows = np.stack([steering, np.zeros_like(steering)])
    ran = worker._run(scenario, rows, np.array([4, 5]), None, None, True)
    for episode, seed in enumerate((4, 5)):
        policy = scenario.architecture.policy(rows[episode])
        env = gymnasium.make("CartPole-v1")
        observation, _ = env.reset(seed=seed)
        seen, over = [], False
        while not over:
            seen.append(observation)
            observation, _, terminated, truncated, _ = env.step(policy(observation))
            over = terminated or truncated
        assert len(seen) == ran.lengths[episode]
        assert np.allclose(ran.obs_total[episode], np.sum(seen, axis=0))
        assert np.allclose(ran.obs_total_sq[episode], np.sum(np.square(seen), axis=0))


def test_the_worker_keeps_its_environments_between_calls_and_scenarios() -> None:
    scenario, worker = cartpole(), RolloutWorker()
    params = np.zeros(scenario.architecture.network.n_params)
    worker.evaluate(scenario, params, np.arange(5), None, None)
    kept = list(worker._envs["CartPole-v1"])
    worker.evaluate(scenario, params, np.arange(3), None, None)
    assert worker._envs["CartPole-v1"] == kept and len(kept) == 5
    worker.evaluate(scenario, params, np.arange(7), None, None)
    assert worker._envs["CartPole-v1"][:5] == kept and len(worker._envs["CartPole-v1"]) == 7
    # Another training's scenario, on the same worker: environments of its own.
    env = gymnasium.make("Acrobot-v1")
    acrobot = Scenario(
        "Acrobot-v1", architecture_for(env.observation_space, env.action_space), scenario.noise
    )
    ran = worker.evaluate(acrobot, np.zeros(21), np.arange(2), None, None)
    assert ran.returns.tolist() == [-500.0, -500.0]
    assert len(worker._envs["Acrobot-v1"]) == 2 and len(worker._envs["CartPole-v1"]) == 7
