"""Policies on flat parameter vectors: returns of known policies, the network's forward pass,
action spaces, and a policy as a picklable callable the model registry takes."""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle
import gymnasium
import numpy as np
import pytest

import cairn
from cairn.errors import InvalidValueError
from cairn.rl.noise import NoiseTable
from cairn.rl.policies import Architecture, Continuous, Discrete, Policy, architecture_for
from cairn.rl.workers import Rollouts, RolloutWorker, Scenario

SMALL_NOISE = NoiseTable(0, 10_000)


def architecture(env_id: str, kind: str = "linear", hidden: tuple[int, ...] = (8,)) -> Architecture:
    env = gymnasium.make(env_id)
    return architecture_for(env.observation_space, env.action_space, kind, hidden)


def episodes(env_id: str, arch: Architecture, params: np.ndarray, seeds: np.ndarray) -> Rollouts:
    """One episode of the policy `params` per seed, as a rollout actor runs them."""
    return RolloutWorker().evaluate(Scenario(env_id, arch, SMALL_NOISE), params, seeds, None, None)


def balancing_params() -> np.ndarray:
    """A hand-made linear CartPole policy: push toward where the pole falls, i.e. action 1
    when the angle plus its velocity (and a little of the cart's) is positive."""
    params = np.zeros(architecture("CartPole-v1").network.n_params)
    weights = params[:8].reshape(4, 2)
    weights[:, 1] = [0.05, 0.1, 1.0, 1.0]
    return params


def test_a_balancing_policy_scores_the_maximum_and_a_constant_one_scores_low() -> None:
    arch, seeds = architecture("CartPole-v1"), np.arange(30)
    good = episodes("CartPole-v1", arch, balancing_params(), seeds)
    assert good.returns.mean() >= 475 and good.returns.min() >= 400
    assert np.array_equal(good.returns, good.lengths)  # CartPole pays 1 per step
    # All zeros: every output ties, argmax pushes left every step; the pole falls fast.
    constant = episodes("CartPole-v1", arch, np.zeros(arch.network.n_params), seeds)
    assert constant.returns.mean() < 15
    # Acrobot pays -1 per step until the tip swings up; hanging still, it never does.
    acrobot = architecture("Acrobot-v1")
    idle = episodes("Acrobot-v1", acrobot, np.zeros(acrobot.network.n_params), seeds[:3])
    assert idle.returns.tolist() == [-500.0] * 3


def test_the_policy_object_plays_as_the_worker_does() -> None:
    arch = architecture("CartPole-v1")
    policy = arch.policy(balancing_params())
    env = gymnasium.make("CartPole-v1")
    observation, _ = env.reset(seed=7)
    total, over = 0.0, False
    while not over:
        observation, reward, terminated, truncated, _ = env.step(policy(observation))
        total += reward
        over = terminated or truncated
    assert total == episodes("CartPole-v1", arch, balancing_params(), np.array([7])).returns[0]


def test_one_vector_per_row_gives_what_each_vector_gives_alone() -> None:
    arch = architecture("Acrobot-v1", "mlp", (16, 8))
    network = arch.network
    assert network.sizes == (6, 16, 8, 3)
    assert network.n_params == 7 * 16 + 17 * 8 + 9 * 3
    rng = np.random.default_rng(0)
    params = rng.normal(size=(5, network.n_params))
    x = rng.normal(size=(5, 6))
    batched = network.forward(params, x)
    for row in range(5):
        alone = network.forward(params[row], x[row : row + 1])[0]
        assert np.allclose(batched[row], alone)


def test_an_mlp_starts_near_indifferent_and_a_linear_policy_at_zero() -> None:
    rng = np.random.default_rng(0)
    mlp = architecture("CartPole-v1", "mlp", (32, 32)).network
    start = mlp.initial(rng)
    outputs = mlp.forward(start, rng.normal(size=(100, 4)))
    assert np.abs(outputs).max() < 0.1
    assert not np.allclose(start, 0)
    assert np.array_equal(architecture("CartPole-v1").network.initial(rng), np.zeros(10))


def test_continuous_actions_are_squashed_into_the_box() -> None:
    arch = architecture("Pendulum-v1", "mlp", (8,))
    assert arch.head == Continuous((-2.0,), (2.0,), "float32")
    params = np.random.default_rng(0).normal(size=arch.network.n_params) * 10
    policy = arch.policy(params)
    actions = policy.predict(np.random.default_rng(1).normal(size=(50, 3)) * 5)
    assert actions.shape == (50, 1) and actions.dtype == np.float32
    assert actions.min() >= -2 and actions.max() <= 2
    one = policy([1.0, 0.0, 0.5])
    assert isinstance(one, np.ndarray) and one.shape == (1,)
    assert episodes("Pendulum-v1", arch, params, np.arange(2)).lengths.tolist() == [200, 200]
    unbounded = Continuous((-np.inf,), (np.inf,))
    assert unbounded.act(np.array([[7.5]])).tolist() == [[7.5]]


def test_discrete_spaces_that_start_elsewhere_keep_their_offset() -> None:
    head = Discrete(3, start=-1)
    assert head.act(np.array([[0.1, 0.5, 0.2], [0.9, 0.0, 0.0]])).tolist() == [0, -1]


def test_a_policy_is_called_on_one_observation_in_any_form_and_predicts_rows() -> None:
    policy = architecture("CartPole-v1").policy(balancing_params())
    leaning_right = [0.0, 0.0, 0.1, 0.0]
    for form in (leaning_right, tuple(leaning_right), np.array(leaning_right, np.float32)):
        action = policy(form)
        assert action == 1 and type(action) is int
    assert policy([0.0, 0.0, -0.1, 0.0]) == 0
    rows = np.array([leaning_right, [0.0, 0.0, -0.1, 0.0]])
    assert policy.predict(rows).tolist() == [1, 0]
    with pytest.raises(InvalidValueError, match="4 values"):
        policy([0.0, 1.0])
    with pytest.raises(InvalidValueError, match="one per row"):
        policy.predict(np.zeros(4))


def test_normalization_is_part_of_the_policy() -> None:
    arch = architecture("CartPole-v1")
    mean, std = np.array([0.0, 0.0, 0.5, 0.0]), np.array([1.0, 1.0, 0.1, 1.0])
    normalized = arch.policy(balancing_params(), mean, std)
    # 0.1 rad reads as (0.1 - 0.5) / 0.1 = -4: leaning left, once normalized.
    assert normalized([0.0, 0.0, 0.1, 0.0]) == 0
    assert arch.policy(balancing_params())([0.0, 0.0, 0.1, 0.0]) == 1
    with pytest.raises(InvalidValueError, match="observation means"):
        arch.policy(balancing_params(), [0.0], std)


def test_a_policy_pickles_and_its_parameters_are_frozen() -> None:
    policy = architecture("CartPole-v1", "mlp", (4,)).policy(
        np.random.default_rng(0).normal(size=30), np.zeros(4), np.ones(4)
    )
    observations = np.random.default_rng(1).normal(size=(20, 4))
    for dumps in (pickle.dumps, cloudpickle.dumps):
        again = pickle.loads(dumps(policy))
        assert isinstance(again, Policy)
        assert np.array_equal(again.predict(observations), policy.predict(observations))
    with pytest.raises(ValueError):
        policy.params[0] = 1.0
    with pytest.raises(InvalidValueError, match="30 parameters"):
        Policy(policy.architecture, np.zeros(5))


def test_a_policy_is_registered_and_served_as_a_python_callable_model(workspace: Path) -> None:
    policy = architecture("CartPole-v1").policy(balancing_params())
    rows = np.array([[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, -0.1, 0.0]])
    version = cairn.models.register("policy", policy, owner="rl", example=rows)
    assert version.flavor == "pyfunc"
    loaded = cairn.models.load("policy/1")
    assert loaded.predict(rows).tolist() == [1, 0]
    assert loaded.predict([[0.0, 0.0, 0.2, 0.3]]).tolist() == [1]


def test_spaces_es_cannot_act_in_are_refused() -> None:
    from gymnasium import spaces

    box = spaces.Box(-1, 1, (3,))
    with pytest.raises(InvalidValueError, match="Discrete or Box"):
        architecture_for(box, spaces.MultiBinary(3))
    with pytest.raises(InvalidValueError, match="Box space"):
        architecture_for(spaces.Discrete(4), spaces.Discrete(2))
    with pytest.raises(InvalidValueError, match="unknown policy"):
        architecture_for(box, spaces.Discrete(2), "transformer")
    with pytest.raises(InvalidValueError, match="hidden"):
        architecture_for(box, spaces.Discrete(2), "mlp", ())
