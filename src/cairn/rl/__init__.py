"""Reinforcement learning: Evolution Strategies on gymnasium environments, with rollouts on
cairn executor actors (`local`, `thread`, `ray`).

    import cairn.rl
    result = cairn.rl.es("CartPole-v1", executor=cairn.executor("local"), seed=0, target=475)
    result.policy(observation)    # the action; the policy pickles and can be registered
"""

from cairn.rl.es import es
from cairn.rl.gradient import antithetic_gradient
from cairn.rl.history import Iteration
from cairn.rl.noise import NoiseTable
from cairn.rl.optimizers import OptimizerKind
from cairn.rl.policies import Policy, PolicyKind
from cairn.rl.result import ESResult
from cairn.rl.settings import ESSettings
from cairn.rl.shaping import centered_ranks
from cairn.rl.workers import Population, Rollouts, RolloutWorker, Scenario

__all__ = [
    "ESResult",
    "ESSettings",
    "Iteration",
    "NoiseTable",
    "OptimizerKind",
    "Policy",
    "PolicyKind",
    "Population",
    "RolloutWorker",
    "Rollouts",
    "Scenario",
    "antithetic_gradient",
    "centered_ranks",
    "es",
]
