"""Fitness shaping by centered ranks (Salimans et al. 2017, after Wierstra et al.): each
return is replaced by its rank among the population, scaled to [-0.5, 0.5].

Ranks make the update blind to the returns' scale and to outliers: any increasing transform
of the returns gives the same update. Tied returns share their average rank, so an
antithetic pair that scores the same (two perturbations that both balance the pole for the
whole episode) pulls neither way.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cairn.errors import InvalidValueError


def centered_ranks(values: ArrayLike) -> np.ndarray:
    """The rank of each value among all of them (ties averaged), mapped linearly so the
    smallest is -0.5 and the largest 0.5; same shape as `values`, summing to zero."""
    array = np.asarray(values, dtype=np.float64)
    flat = array.ravel()
    if np.isnan(flat).any():
        raise InvalidValueError("cannot rank returns that include NaN")
    if flat.size < 2:
        return np.zeros_like(array)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = (ends - counts + ends - 1) / 2  # of the positions each distinct value takes
    ranks = average_rank[inverse.ravel()]
    return (ranks / (flat.size - 1) - 0.5).reshape(array.shape)
