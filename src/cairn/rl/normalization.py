"""Running statistics of the observations a policy has seen, for normalizing its inputs
(Salimans et al. 2017 keep them the same way): the driver adds up what the rollouts of an
iteration observed, and the next iteration's policies read (x - mean) / std."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The floor of the variance: an observation that barely moves is not blown up into noise.
MIN_VARIANCE = 1e-2


@dataclass
class ObservationStats:
    size: int
    count: float = 0.0
    total: np.ndarray = field(init=False)
    total_sq: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.size)
        self.total_sq = np.zeros(self.size)

    def add(self, count: float, total: np.ndarray, total_sq: np.ndarray) -> None:
        self.count += count
        self.total = self.total + total
        self.total_sq = self.total_sq + total_sq

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count if self.count else np.zeros(self.size)

    @property
    def std(self) -> np.ndarray:
        if not self.count:
            return np.ones(self.size)
        variance = self.total_sq / self.count - np.square(self.mean)
        return np.sqrt(np.maximum(variance, MIN_VARIANCE))
