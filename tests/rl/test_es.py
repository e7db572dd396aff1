"""`cairn.rl.es`: repeatable trainings on every executor, what each iteration logs, the
target, and the checks on its arguments."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import cairn
import cairn.rl
from cairn.errors import InvalidValueError
from cairn.rl.checkpoints import CHECKPOINT
from cairn.rl.es import POLICY
from cairn.rl.history import Iteration

# A few short iterations: early CartPole episodes last tens of steps.
QUICK = dict(population=10, iterations=4, noise_size=2**16, eval_episodes=10, center_episodes=2)


def outcomes(result: cairn.rl.ESResult) -> list[tuple]:
    return [done.outcome() for done in result.history]


def test_a_seed_repeats_its_training_and_another_seed_does_not(workspace: Path) -> None:
    first = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=4, **QUICK)
    again = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=4, **QUICK)
    other = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=5, **QUICK)
    assert outcomes(first) == outcomes(again)
    assert first.returns == again.returns
    assert np.array_equal(first.policy.params, again.policy.params)
    assert outcomes(first) != outcomes(other)
    assert first.run.id != again.run.id


def test_local_processes_and_threads_give_one_history_with_any_number_of_workers(
    workspace: Path,
) -> None:
    with cairn.executor("local", workers=2) as ex:
        on_processes = cairn.rl.es("CartPole-v1", executor=ex, seed=1, policy="mlp",
                                   hidden=(8,), **QUICK)  # fmt: skip
        # A second training on the executor runs on the actors the first one started.
        acrobot = cairn.rl.es("Acrobot-v1", executor=ex, seed=1, **{**QUICK, "iterations": 1})
        assert len(ex._actors) == 2 and acrobot.iterations == 1
    on_a_thread = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=1,
                              policy="mlp", hidden=(8,), **QUICK)  # fmt: skip
    assert outcomes(on_processes) == outcomes(on_a_thread)
    assert on_processes.returns == on_a_thread.returns
    assert on_processes.run.params["executor"] == "local"
    assert on_processes.run.params["workers"] == 2


def test_workers_left_without_a_pair_take_center_episodes_or_nothing(workspace: Path) -> None:
    tiny = {**QUICK, "population": 2, "center_episodes": 1, "iterations": 2}
    crowded = cairn.rl.es("CartPole-v1", executor="thread", workers=3, seed=6, **tiny)
    alone = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=6, **tiny)
    assert outcomes(crowded) == outcomes(alone)


def test_an_executor_with_task_options_runs_the_actors_with_them(workspace: Path) -> None:
    # Actors that hold no CPU: what a training started inside a task of the same cluster
    # needs, lest its actors wait for the CPUs their caller holds.
    with cairn.executor("thread", workers=2) as ex:
        result = cairn.rl.es("CartPole-v1", executor=ex.options(resources={"cpus": 0}), **QUICK)
    assert result.run.params["workers"] == 2 and result.iterations == 4


@pytest.mark.ray
def test_a_training_on_ray_actors_matches_the_one_on_threads(
    ray_cluster: None, workspace: Path
) -> None:
    with cairn.executor("ray", workers=2) as ex:
        on_ray = cairn.rl.es("CartPole-v1", executor=ex, seed=2, **QUICK)
        # Its actors hold both CPUs of this Ray: the second training reuses them, where
        # actors of its own would wait for ever.
        again = cairn.rl.es("CartPole-v1", executor=ex, seed=2, **QUICK)
    on_threads = cairn.rl.es("CartPole-v1", executor="thread", workers=2, seed=2, **QUICK)
    assert outcomes(on_ray) == outcomes(again) == outcomes(on_threads)
    assert on_ray.mean_return == on_threads.mean_return
    assert on_ray.run.status == "finished"


def test_each_iteration_is_logged_and_checkpointed_to_the_run(workspace: Path) -> None:
    seen: list[Iteration] = []
    result = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=0,
                         experiment="rl", name="cartpole", checkpoint_every=3,
                         on_iteration=seen.append, **QUICK)  # fmt: skip
    run = result.run
    assert (run.experiment, run.name, run.status) == ("rl", "cartpole", "finished")
    assert run.params["population"] == 10 and run.params["policy"] == "linear"
    assert run.tags["cairn.rl.env"] == "CartPole-v1"
    assert seen == result.history and result.iterations == 4
    for key in ("return_mean", "return_max", "return_min", "episodes", "env_steps",
                "env_steps_per_s", "center_return"):  # fmt: skip
        history = run.metric_history(key)
        assert [step for step, _, _ in history] == [0, 1, 2, 3], key
    for done, (_, mean, _) in zip(result.history, run.metric_history("return_mean"), strict=True):
        assert mean == done.return_mean
        assert done.return_min <= done.return_mean <= done.return_max
        assert done.episodes == 10 + 2 and done.env_steps_per_s > 0
    assert run.metrics["mean_return"] == result.mean_return
    assert len(result.returns) == 10
    artifacts = run.artifacts()
    # After iteration 3, and at the end (4 is not a multiple of 3).
    assert [a.kind for a in artifacts if a.name == CHECKPOINT] == ["checkpoint", "checkpoint"]
    saved = cairn.load(f"{run.id}/{POLICY}")
    assert np.array_equal(saved.params, result.policy.params)


def test_a_short_cartpole_training_improves(workspace: Path) -> None:
    result = cairn.rl.es("CartPole-v1", executor="thread", workers=1, seed=0, population=20,
                         iterations=8, eval_episodes=20, noise_size=2**16)  # fmt: skip
    first, last = result.history[0], result.history[-1]
    assert last.return_mean > 3 * first.return_mean
    assert last.center_return > first.center_return
    assert result.mean_return > 3 * first.return_mean


def test_an_mlp_policy_trains_and_acts(workspace: Path) -> None:
    result = cairn.rl.es("Acrobot-v1", executor="thread", workers=1, policy="mlp", hidden=(16,),
                         seed=0, **{**QUICK, "iterations": 2})  # fmt: skip
    assert result.policy.architecture.network.sizes == (6, 16, 3)
    assert result.policy(np.zeros(6)) in (0, 1, 2)
    assert -500 <= result.mean_return <= 0


def test_a_given_run_is_logged_into_and_left_open(workspace: Path) -> None:
    with cairn.start_run("outer", experiment="mine") as run:
        result = cairn.rl.es("CartPole-v1", executor="thread", workers=1, run=run, **QUICK)
        assert result.run.id == run.id and result.run.status == "running"
        run.log({"after": 1.0})
    record = cairn.get_run(run.id)
    assert record.status == "finished" and record.params["sigma"] == 0.1
    assert len(record.metric_history("return_mean")) == 4


@pytest.mark.slow
def test_cartpole_is_solved_on_two_local_workers(workspace: Path) -> None:
    started = time.perf_counter()
    with cairn.executor("local", workers=2) as ex:
        result = cairn.rl.es("CartPole-v1", executor=ex, seed=0, target=475, iterations=60)
    elapsed = time.perf_counter() - started
    assert result.solved and result.mean_return >= 475
    assert len(result.returns) == 100  # the mean is over 100 evaluation episodes
    assert result.history[-1].eval_return == result.mean_return
    print(f"CartPole-v1 solved in {result.iterations} iterations, {elapsed:.1f} s")


@pytest.mark.slow
def test_acrobot_reaches_minus_100(workspace: Path) -> None:
    with cairn.executor("local", workers=2) as ex:
        result = cairn.rl.es("Acrobot-v1", executor=ex, seed=0, target=-100, iterations=40)
    assert result.solved and result.mean_return >= -100 and len(result.returns) == 100


def test_bad_arguments_are_refused_before_any_run_starts(workspace: Path) -> None:
    for bad in (dict(population=9), dict(population=0), dict(sigma=0), dict(step_size=-1),
                dict(policy="tree"), dict(optimizer="lbfgs"), dict(iterations=-1),
                dict(center_episodes=-1), dict(weight_decay=float("nan"))):  # fmt: skip
        with pytest.raises(InvalidValueError):
            cairn.rl.es("CartPole-v1", executor="thread", **bad)
    with pytest.raises(InvalidValueError, match="no gymnasium environment"):
        cairn.rl.es("NoSuchEnv-v0", executor="thread")
    assert cairn.search_runs() == []
