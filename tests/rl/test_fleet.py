"""The actors of an executor: shared by the trainings that run there, the work shared out
among them and joined back in order."""

from __future__ import annotations

from dataclasses import replace

import gymnasium
import numpy as np
import pytest

import cairn
from cairn.errors import InvalidValueError
from cairn.rl.fleet import fleet_for
from cairn.rl.noise import NoiseTable
from cairn.rl.policies import architecture_for
from cairn.rl.workers import Population, RolloutWorker, Scenario


def scenario() -> Scenario:
    env = gymnasium.make("CartPole-v1")
    arch = architecture_for(env.observation_space, env.action_space, "mlp", (4,))
    return Scenario("CartPole-v1", arch, NoiseTable(2, 10_000))


def population(of: Scenario, pairs: int, center: int) -> Population:
    rng = np.random.default_rng(pairs)
    dim = of.architecture.network.n_params
    return Population(
        of, rng.normal(size=dim), 0.2, of.noise.sample_indices(rng, pairs, dim),
        rng.integers(0, 1000, (pairs, 2)), rng.integers(0, 1000, center), None, None, True,
    )  # fmt: skip


def test_shared_out_work_comes_back_as_one_worker_gives_it() -> None:
    setup = scenario()
    with cairn.executor("thread", workers=3) as ex:
        fleet = fleet_for(ex, 3, setup)
        for pairs, center in ((7, 4), (2, 0), (1, 3)):  # uneven, none, fewer than actors
            work = population(setup, pairs, center)
            shared, shared_center = fleet.perturbed(work)
            alone, alone_center = RolloutWorker().perturbed(work)
            assert shared.returns.shape == (2, pairs, 2)
            assert np.array_equal(shared.returns, alone.returns)
            assert np.array_equal(shared.obs_total, alone.obs_total)
            assert np.array_equal(shared_center.returns, alone_center.returns)
        seeds = np.arange(5)
        params = np.zeros(setup.architecture.network.n_params)
        evaluated = fleet.evaluate(params, seeds, None, None)
        assert np.array_equal(
            evaluated.returns, RolloutWorker().evaluate(setup, params, seeds, None, None).returns
        )


def test_trainings_on_one_executor_share_its_actors() -> None:
    with cairn.executor("thread", workers=2) as ex, cairn.executor("thread") as other:
        first = fleet_for(ex, 2, scenario())
        assert fleet_for(ex, 1, scenario()).actors == first.actors[:1]
        wider = fleet_for(ex, 3, scenario())
        assert wider.actors[:2] == first.actors and len(ex._actors) == 3
        # Actors with other task options, or on another executor, are others.
        view = ex.options(resources={"cpus": 0})
        assert not set(fleet_for(view, 2, scenario()).actors) & set(first.actors)
        assert not set(fleet_for(other, 2, scenario()).actors) & set(first.actors)


def test_actors_of_a_failed_call_are_not_handed_out_again() -> None:
    setup = scenario()
    with cairn.executor("thread", workers=2) as ex:
        fleet = fleet_for(ex, 2, setup)
        broken = replace(population(setup, 2, 0), indices=np.array([0, 10**6]))
        with pytest.raises(InvalidValueError, match="outside the table"):
            fleet.perturbed(broken)
        again = fleet_for(ex, 2, setup)
        assert not set(again.actors) & set(fleet.actors)
        assert again.perturbed(population(setup, 2, 1))[0].returns.shape == (2, 2, 2)
