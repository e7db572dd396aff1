"""The antithetic Evolution Strategies estimate of a gradient (Salimans et al. 2017).

For perturbations eps_i ~ N(0, I) and fitnesses F(theta + sigma eps_i), F(theta - sigma eps_i),

    g = sum_i (F+_i - F-_i) eps_i / (2 n sigma)

is an unbiased estimate of the gradient of E[F(theta + sigma eps)], the objective smoothed by
the noise (for a quadratic, the true gradient). Evaluating each perturbation with its mirror
image cancels the even terms of F's expansion, which cuts the estimate's variance.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cairn.errors import InvalidValueError


def antithetic_gradient(
    noise: np.ndarray, plus: ArrayLike, minus: ArrayLike, sigma: float
) -> np.ndarray:
    """The estimate from `noise` (one perturbation per row) and the fitnesses of theta plus
    and minus sigma times each row."""
    plus, minus = np.asarray(plus, np.float64), np.asarray(minus, np.float64)
    if plus.shape != minus.shape or plus.shape != (len(noise),):
        raise InvalidValueError(
            f"{len(noise)} perturbations need as many fitnesses each way, "
            f"not {plus.shape} and {minus.shape}"
        )
    if sigma <= 0:
        raise InvalidValueError(f"sigma must be above 0, not {sigma}")
    return (plus - minus) @ noise.astype(np.float64) / (2 * len(noise) * sigma)
