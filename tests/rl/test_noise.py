"""The shared noise table: one seed gives one table everywhere, sliced by index."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pytest

from cairn.errors import InvalidValueError
from cairn.rl.noise import NoiseTable

SIZE = 50_000


def test_the_same_index_gives_the_same_noise_in_two_tables_of_one_seed() -> None:
    a, b = NoiseTable(3, SIZE), NoiseTable(3, SIZE)
    for index in (0, 17, 1234, SIZE - 10):
        assert np.array_equal(a.get(index, 10), b.get(index, 10))
    # Built from the seed, not shared by identity: a table of another seed differs.
    assert not np.array_equal(a.get(0, 10), NoiseTable(4, SIZE).get(0, 10))


def test_a_table_travels_as_its_seed_and_is_built_again() -> None:
    table = NoiseTable(5, SIZE)
    payload = cloudpickle.dumps(table)
    assert len(payload) < 1_000  # not the 200 kB of its values
    again = pickle.loads(payload)
    assert (again.seed, again.size) == (5, SIZE)
    assert np.array_equal(again.get(99, 40), table.get(99, 40))


def test_slices_are_read_only_views_of_standard_normal_float32() -> None:
    table = NoiseTable(0, SIZE)
    piece = table.get(10, 5)
    assert piece.dtype == np.float32 and np.shares_memory(piece, table.noise)
    with pytest.raises(ValueError):
        piece[0] = 1.0
    assert abs(table.noise.mean()) < 0.02 and abs(table.noise.std() - 1) < 0.02


def test_rows_stack_the_slices_and_indices_stay_inside_the_table() -> None:
    table = NoiseTable(1, SIZE)
    indices = table.sample_indices(np.random.default_rng(0), 200, 1_000)
    assert indices.min() >= 0 and indices.max() <= SIZE - 1_000
    rows = table.rows(indices[:3], 1_000)
    assert rows.shape == (3, 1_000)
    assert np.array_equal(rows[1], table.get(int(indices[1]), 1_000))
    assert table.rows(indices[:0], 7).shape == (0, 7)


def test_out_of_range_slices_and_too_large_policies_are_refused() -> None:
    table = NoiseTable(1, 100)
    with pytest.raises(InvalidValueError, match="outside the table"):
        table.get(95, 10)
    with pytest.raises(InvalidValueError, match="outside the table"):
        table.get(-1, 10)
    with pytest.raises(InvalidValueError, match="noise_size"):
        table.sample_indices(np.random.default_rng(0), 1, 101)
    with pytest.raises(InvalidValueError):
        NoiseTable(1, 0)
