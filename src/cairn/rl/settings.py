"""What one ES training is: the environment, the policy, the seed and the hyperparameters,
checked once, logged as the run's params and kept in its checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from cairn.errors import InvalidValueError
from cairn.rl.noise import DEFAULT_SIZE
from cairn.rl.optimizers import OptimizerKind
from cairn.rl.policies import DEFAULT_HIDDEN, PolicyKind

# What may change when a training resumes: how long it goes on and how its end is judged.
# Anything else would make the resumed training a different one.
MAY_CHANGE_ON_RESUME = ("iterations", "target", "eval_episodes", "checkpoint_every")


@dataclass(frozen=True)
class ESSettings:
    env_id: str
    policy: PolicyKind = PolicyKind.LINEAR
    hidden: tuple[int, ...] = DEFAULT_HIDDEN  # an MLP's hidden layers
    seed: int = 0
    iterations: int = 100
    population: int = 20  # perturbed policies per iteration: population / 2 antithetic pairs
    sigma: float = 0.1  # the noise's standard deviation in parameter space
    step_size: float = 0.1
    optimizer: OptimizerKind = OptimizerKind.ADAM
    weight_decay: float = 0.005
    episodes_per_eval: int = 1  # episodes per perturbed policy, their returns averaged
    eval_episodes: int = 100
    # Episodes of the unperturbed policy run with each iteration's population: its return
    # is logged, and with a target, it decides when the full evaluation is worth running.
    center_episodes: int = 5
    normalize: bool = True  # observations normalized by their running mean and deviation
    noise_size: int = DEFAULT_SIZE
    target: float | None = None  # stop once the policy's mean return over eval_episodes is this
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "policy", PolicyKind(self.policy))
            object.__setattr__(self, "optimizer", OptimizerKind(self.optimizer))
        except ValueError as exc:
            raise InvalidValueError(str(exc)) from None
        object.__setattr__(self, "hidden", tuple(int(n) for n in self.hidden))
        _at_least("iterations", self.iterations, 0)
        _at_least("population", self.population, 2)
        if self.population % 2:
            raise InvalidValueError(
                f"population must be even (antithetic pairs), not {self.population}"
            )
        _at_least("episodes_per_eval", self.episodes_per_eval, 1)
        _at_least("eval_episodes", self.eval_episodes, 1)
        _at_least("center_episodes", self.center_episodes, 0)
        _at_least("checkpoint_every", self.checkpoint_every, 1)
        for name in ("sigma", "step_size"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise InvalidValueError(f"{name} must be a number above 0, not {value!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InvalidValueError(f"weight_decay must be 0 or more, not {self.weight_decay!r}")

    @property
    def pairs(self) -> int:
        return self.population // 2

    def as_params(self) -> dict[str, object]:
        """The settings as a run's params (JSON-like values)."""
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        values["policy"], values["optimizer"] = self.policy.value, self.optimizer.value
        return values

    def check_resumes(self, earlier: ESSettings) -> None:
        """Refuse to resume `earlier`'s training with settings that make it another one."""
        differ = [
            f"{f.name}: {getattr(earlier, f.name)!r} before, {getattr(self, f.name)!r} now"
            for f in fields(self)
            if f.name not in MAY_CHANGE_ON_RESUME
            and getattr(earlier, f.name) != getattr(self, f.name)
        ]
        if differ:
            raise InvalidValueError(
                "cannot resume a training with other settings (only "
                f"{', '.join(MAY_CHANGE_ON_RESUME)} may change): " + "; ".join(differ)
            )


def _at_least(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidValueError(f"{name} must be a whole number, {low} or more, not {value!r}")
