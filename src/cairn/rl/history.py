"""One iteration of an ES training as it is logged to the run and kept in the history."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Iteration:
    number: int  # from 0; the step its metrics are logged at
    return_mean: float  # over the perturbed policies of the population
    return_max: float
    return_min: float
    episodes: int  # the population's and the center's
    env_steps: int
    seconds: float  # the rollouts' wall time
    center_return: float | None = None  # the unperturbed policy's, over its few episodes
    eval_return: float | None = None  # the unperturbed policy's, when fully evaluated

    @property
    def env_steps_per_s(self) -> float:
        return self.env_steps / self.seconds if self.seconds > 0 else float("inf")

    def metrics(self) -> dict[str, float]:
        """What is logged to the run at step `number`."""
        found = {
            "return_mean": self.return_mean,
            "return_max": self.return_max,
            "return_min": self.return_min,
            "episodes": self.episodes,
            "env_steps": self.env_steps,
            "env_steps_per_s": self.env_steps_per_s,
        }
        if self.center_return is not None:
            found["center_return"] = self.center_return
        if self.eval_return is not None:
            found["eval_return"] = self.eval_return
        return found

    def outcome(self) -> tuple:
        """Everything but the timing: equal for two trainings of the same seed."""
        return (
            self.number,
            self.return_mean,
            self.return_max,
            self.return_min,
            self.episodes,
            self.env_steps,
            self.center_return,
            self.eval_return,
        )
