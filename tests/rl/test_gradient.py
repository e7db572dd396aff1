"""The antithetic ES estimate on a quadratic, where the smoothed gradient is the true one."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.errors import InvalidValueError
from cairn.rl.gradient import antithetic_gradient
from cairn.rl.noise import NoiseTable
from cairn.rl.optimizers import make_optimizer
from cairn.rl.shaping import centered_ranks

DIM = 20
OPTIMUM = np.linspace(-1, 1, DIM)


def fitness(x: np.ndarray) -> np.ndarray:
    """A concave quadratic (ES maximizes), of a point or of each row."""
    return -np.sum(np.square(x - OPTIMUM) * np.arange(1, DIM + 1), axis=-1)


def true_gradient(x: np.ndarray) -> np.ndarray:
    return -2 * (x - OPTIMUM) * np.arange(1, DIM + 1)


def estimate(x: np.ndarray, pairs: int, sigma: float, rng, shaped: bool = False) -> np.ndarray:
    noise = rng.standard_normal((pairs, DIM))
    plus, minus = fitness(x + sigma * noise), fitness(x - sigma * noise)
    if shaped:
        plus, minus = centered_ranks(np.stack([plus, minus]))
    return antithetic_gradient(noise, plus, minus, sigma)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_the_estimate_is_unbiased_and_points_along_the_true_gradient() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(DIM)
    single = estimate(x, 500, 0.1, rng)
    assert cosine(single, true_gradient(x)) > 0.9
    # On a quadratic the antithetic estimate of the smoothed gradient has no bias, whatever
    # sigma: the mean of many estimates is the true gradient (to within its sampling
    # error, about |g| / sqrt(20,000) per component here).
    mean = np.mean([estimate(x, 100, 0.5, rng) for _ in range(200)], axis=0)
    error = np.linalg.norm(mean - true_gradient(x)) / np.linalg.norm(true_gradient(x))
    assert error < 0.08


def test_rank_shaped_fitness_still_climbs_and_a_step_along_it_improves() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=DIM)
    shaped = estimate(x, 200, 0.05, rng, shaped=True)
    assert cosine(shaped, true_gradient(x)) > 0.5
    # As a loss (the negated fitness), the step goes downhill.
    assert fitness(x + 1e-3 * shaped / np.linalg.norm(shaped)) > fitness(x)


def test_es_with_adam_and_the_noise_table_finds_the_optimum() -> None:
    table, rng = NoiseTable(0, 100_000), np.random.default_rng(2)
    x, adam = np.zeros(DIM), make_optimizer("adam", 0.05)
    start = fitness(x)
    for _ in range(300):
        indices = table.sample_indices(rng, 25, DIM)
        noise = table.rows(indices, DIM)
        plus, minus = centered_ranks(np.stack([fitness(x + 0.1 * noise), fitness(x - 0.1 * noise)]))
        x = x + adam.step(antithetic_gradient(noise, plus, minus, 0.1))
    assert fitness(x) > 0.01 * start  # within 1% of where it began from the optimum
    assert np.abs(x - OPTIMUM).max() < 0.1


def test_mismatched_inputs_are_refused() -> None:
    noise = np.zeros((3, DIM))
    with pytest.raises(InvalidValueError):
        antithetic_gradient(noise, [1, 2, 3], [1, 2], 0.1)
    with pytest.raises(InvalidValueError):
        antithetic_gradient(noise, [1, 2, 3], [1, 2, 3], 0.0)
