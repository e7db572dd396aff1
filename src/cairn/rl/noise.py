"""The shared noise table of Salimans et al. (2017): one long array of Gaussian noise that the
driver and every worker build alike from one seed, so that a perturbation travels as an
index into it rather than as a vector.

A table pickles as its seed and size and is built again where it is unpickled; a process
builds each table once and shares it (read-only) among the actors and drivers it runs.
"""

from __future__ import annotations

import functools

import numpy as np

from cairn.errors import InvalidValueError

# 4 MB of float32: a million slices for a policy of thousands of parameters. Two slices that
# overlap at a shift are still uncorrelated vectors; only the same index repeats a draw.
DEFAULT_SIZE = 2**20


class NoiseTable:
    """`size` float32 draws of N(0, 1) from `seed`; `get(index, dim)` is a slice of them."""

    def __init__(self, seed: int, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise InvalidValueError(f"a noise table needs at least one value, not {size}")
        self.seed = int(seed)
        self.size = int(size)
        self.noise = _built(self.seed, self.size)

    def get(self, index: int, dim: int) -> np.ndarray:
        """The `dim` values from `index` on: the same for the same index in every table of
        this seed and size. A read-only view, not a copy."""
        if not 0 <= index <= self.size - dim:
            raise InvalidValueError(
                f"noise index {index} with {dim} values is outside the table of {self.size}"
            )
        return self.noise[index : index + dim]

    def rows(self, indices: np.ndarray, dim: int) -> np.ndarray:
        """The slices at `indices`, one row each: a (len(indices), dim) array."""
        if len(indices) == 0:
            return np.empty((0, dim), np.float32)
        return np.stack([self.get(int(i), dim) for i in indices])

    def sample_indices(self, rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
        """`count` random starts of slices of `dim` values, drawn from `rng`."""
        if dim > self.size:
            raise InvalidValueError(
                f"a policy of {dim} parameters needs a noise table of at least {dim} values "
                f"(this one has {self.size}); pass a larger noise_size"
            )
        return rng.integers(0, self.size - dim + 1, size=count)

    def __reduce__(self) -> tuple:
        return NoiseTable, (self.seed, self.size)

    def __repr__(self) -> str:
        return f"NoiseTable(seed={self.seed}, size={self.size})"


@functools.lru_cache(maxsize=4)
def _built(seed: int, size: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(size, dtype=np.float32)
    noise.flags.writeable = False  # shared by every table of this process
    return noise
