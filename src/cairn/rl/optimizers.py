"""The update rules ES steps its parameters with: Adam (the paper's choice) and SGD with
momentum. Each keeps its own state, which a checkpoint stores with the parameters.

`step(gradient)` returns the change to add to the parameters, climbing the gradient: ES
maximizes the return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cairn.errors import InvalidValueError
from cairn.states import TextEnum


class OptimizerKind(TextEnum):
    ADAM = "adam"
    SGD = "sgd"


@dataclass
class Adam:
    step_size: float
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    t: int = 0
    m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    v: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def step(self, gradient: np.ndarray) -> np.ndarray:
        if self.t == 0:
            self.m, self.v = np.zeros_like(gradient), np.zeros_like(gradient)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient * gradient
        rate = self.step_size * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        return rate * self.m / (np.sqrt(self.v) + self.epsilon)


@dataclass
class SGD:
    step_size: float
    momentum: float = 0.9
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def step(self, gradient: np.ndarray) -> np.ndarray:
        if self.velocity.shape != gradient.shape:
            self.velocity = np.zeros_like(gradient)
        self.velocity = self.momentum * self.velocity + (1 - self.momentum) * gradient
        return self.step_size * self.velocity


Optimizer = Adam | SGD


def make_optimizer(kind: OptimizerKind | str, step_size: float) -> Optimizer:
    """A fresh optimizer of `kind` taking steps of `step_size`."""
    if not step_size > 0:
        raise InvalidValueError(f"step_size must be above 0, not {step_size}")
    try:
        kind = OptimizerKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in OptimizerKind)
        raise InvalidValueError(f"unknown optimizer {kind!r} (known: {known})") from None
    return Adam(step_size) if kind is OptimizerKind.ADAM else SGD(step_size)
