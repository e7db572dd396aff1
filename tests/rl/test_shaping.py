"""Centered rank fitness shaping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.errors import InvalidValueError
from cairn.rl.shaping import centered_ranks

finite = st.floats(-1e6, 1e6, allow_nan=False)
# A shared machine can stall an example past hypothesis's default deadline of 200 ms.
relaxed = settings(deadline=None)


@relaxed
@given(st.lists(finite, min_size=2, max_size=60))
def test_centered_ranks_lie_in_half_open_unit_and_sum_to_zero(values: list[float]) -> None:
    ranks = centered_ranks(values)
    assert ranks.shape == (len(values),)
    assert ranks.min() >= -0.5 and ranks.max() <= 0.5
    assert abs(ranks.sum()) < 1e-9
    if len(set(values)) == len(values):  # no ties: the extremes are exactly +-0.5
        assert ranks.min() == -0.5 and ranks.max() == 0.5


@relaxed
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=40))
def test_any_increasing_transform_of_the_returns_gives_the_same_ranks(values: list[float]) -> None:
    x = np.array(values)
    ranks = centered_ranks(x)
    for transformed in (3 * x + 7, np.exp(x / 10), x**3, np.arctan(x)):
        # Where a transform merges two values in floating point, they become a tie.
        if len(np.unique(transformed)) == len(np.unique(x)):
            assert np.allclose(centered_ranks(transformed), ranks)


def test_ranks_follow_the_order_and_ties_share_their_average() -> None:
    assert centered_ranks([10.0, -3.0, 7.0]).tolist() == [0.5, -0.5, 0.0]
    # Two perturbations that both reach the episode's cap pull neither way.
    ranks = centered_ranks([500.0, 500.0, 20.0, 30.0])
    assert ranks[0] == ranks[1] == pytest.approx((2.5 / 3) - 0.5)
    assert centered_ranks(np.full(5, 9.0)).tolist() == [0.0] * 5


def test_the_shape_is_kept_and_degenerate_inputs_are_handled() -> None:
    pairs = np.array([[1.0, 4.0, 2.0], [3.0, 0.0, 5.0]])
    ranks = centered_ranks(pairs)
    assert ranks.shape == (2, 3)
    assert ranks[1, 2] == 0.5 and ranks[1, 1] == -0.5
    assert centered_ranks([4.2]).tolist() == [0.0]
    assert centered_ranks([]).shape == (0,)
    with pytest.raises(InvalidValueError, match="NaN"):
        centered_ranks([1.0, float("nan")])
