"""Metric series made small enough to draw: raw under the limit, bucketed over it with each
bucket's min and max kept (so a spike survives), NaN left out of a bucket's statistics; one
run's and many runs' on shared steps, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

import cairn
from cairn.errors import InvalidValueError
from cairn.store import Store, get_store
from cairn.tracking.series import LIMIT, aligned_series, metric_series

SPIKE_AT = 123_457
POINTS = 200_000


@pytest.fixture
def store(backend: str) -> Store:
    """The workspace's store, once per backend (SQLite, PostgreSQL, S3 blobs)."""
    return get_store()


def logged(values: dict[int, float], key: str = "loss", name: str = "train") -> str:
    """A finished run that logged `values` ({step: value}) of metric `key`; its id."""
    with cairn.start_run(name, experiment="series") as run:
        for step, value in values.items():
            run.log({key: value}, step=step)
    return run.id


def test_a_series_within_the_limit_comes_back_as_logged(store: Store) -> None:
    values = {step: 1.0 / (step + 1) for step in range(0, 100, 2)}
    series = metric_series(logged(values), "loss", max_points=50, store=store)
    assert not series.downsampled
    assert series.count == 50
    assert series.steps == list(values)
    assert series.values == list(values.values())
    assert series.mins == series.maxs == series.values


def test_over_the_limit_buckets_keep_a_single_spike_in_their_max(store: Store) -> None:
    values = {step: math.sin(step / 1000) for step in range(POINTS)}
    values[SPIKE_AT] = 1e9
    values[7] = -1e9
    run_id = logged(values)

    series = metric_series(run_id, "loss", max_points=1000, store=store)

    assert series.downsampled
    assert series.count == POINTS
    assert 900 <= len(series.steps) <= 1000
    assert series.steps[0] == 0
    assert series.steps == sorted(set(series.steps))
    assert len(series.values) == len(series.mins) == len(series.maxs) == len(series.steps)
    # The spike is the max of the bucket holding its step, and of no other bucket.
    bucket = max(i for i, step in enumerate(series.steps) if step <= SPIKE_AT)
    assert series.maxs[bucket] == 1e9
    assert [i for i, high in enumerate(series.maxs) if high > 1] == [bucket]
    assert series.values[bucket] < 1e9 / 100  # the mean is not the spike
    assert series.mins[0] == -1e9
    assert all(
        low - 1e-9 <= mean <= high + 1e-9
        for low, mean, high in zip(series.mins, series.values, series.maxs, strict=True)
    )


def test_nan_reads_as_nan_and_stays_out_of_a_bucket(store: Store) -> None:
    nan = math.nan
    values = {0: nan, 1: nan, 2: nan, 3: 4.0, 4: 1.0, 5: 3.0, 6: 2.0, 7: nan, 8: 5.0, 9: 6.0}
    run_id = logged(values)

    raw = metric_series(run_id, "loss", max_points=20, store=store)
    assert raw.steps == list(range(10))
    assert [math.isnan(v) for v in raw.values] == [math.isnan(v) for v in values.values()]

    series = metric_series(run_id, "loss", max_points=5, store=store)  # buckets of 2 steps
    assert series.steps == [0, 2, 4, 6, 8]
    assert math.isnan(series.values[0]) and math.isnan(series.maxs[0])
    assert (series.values[1], series.mins[1], series.maxs[1]) == (4.0, 4.0, 4.0)
    assert (series.values[2], series.mins[2], series.maxs[2]) == (2.0, 1.0, 3.0)
    assert (series.values[3], series.mins[3], series.maxs[3]) == (2.0, 2.0, 2.0)


def test_a_metric_never_logged_is_an_empty_series(store: Store) -> None:
    series = metric_series(logged({0: 1.0}), "accuracy", store=store)
    assert (series.steps, series.count, series.downsampled) == ([], 0, False)


@pytest.mark.parametrize("max_points", [-1, 0, 1, LIMIT + 1])
def test_max_points_out_of_range_is_refused(store: Store, max_points: int) -> None:
    run_id = logged({0: 1.0})
    with pytest.raises(InvalidValueError, match="max_points"):
        metric_series(run_id, "loss", max_points=max_points, store=store)
    with pytest.raises(InvalidValueError, match="max_points"):
        aligned_series([run_id], "loss", max_points=max_points, store=store)


def test_runs_share_their_steps_with_gaps_where_a_run_logged_nothing(store: Store) -> None:
    short = logged({0: 1.0, 1: 2.0, 2: 3.0}, name="short")
    long = logged({0: 10.0, 2: 30.0, 4: 50.0}, name="long")
    never = logged({0: 1.0}, key="acc", name="other")

    aligned = aligned_series([long, never, short], "loss", max_points=100, store=store)

    assert not aligned.downsampled
    assert aligned.steps == [0, 1, 2, 4]
    assert list(aligned.runs) == [long, short]  # in the order asked, without the one lacking it
    assert aligned.runs[short].values[:3] == [1.0, 2.0, 3.0]
    assert math.isnan(aligned.runs[short].values[3])
    assert aligned.runs[long].values[0] == 10.0 and math.isnan(aligned.runs[long].values[1])
    assert aligned.runs[long].values[2:] == [30.0, 50.0]


def test_aligned_buckets_keep_each_runs_spike(store: Store) -> None:
    flat = logged({step: 0.0 for step in range(10_000)}, name="flat")
    spiky = {step: 0.0 for step in range(1, 20_000, 2)}  # steps 0 to 19,999: span 20,000
    spiky[12_347] = 1e6
    spiked = logged(spiky, name="spiky")

    aligned = aligned_series([flat, spiked], "loss", max_points=100, store=store)

    assert aligned.downsampled
    assert len(aligned.steps) == 100
    assert aligned.steps[0] == 0 and aligned.steps[-1] == 19_800  # buckets of 200 steps
    assert max(aligned.runs[spiked].maxs) == 1e6
    assert aligned.runs[spiked].maxs.index(1e6) == 12_347 // 200
    assert max(aligned.runs[flat].maxs) == 0.0
    # The flat run ends at step 9,999: its buckets past that are gaps.
    assert all(math.isnan(v) for v in aligned.runs[flat].values[50:])
    assert not any(math.isnan(v) for v in aligned.runs[flat].values[:50])
