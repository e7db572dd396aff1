"""What only the Ray backend's futures do: fetch on demand, and not outlive their use."""

from __future__ import annotations

import concurrent.futures
import gc
import weakref

import pytest

import cairn.compute
from cairn.compute.ray_backend import SWEEP_AT_LEAST
from tests.compute.helpers import square

pytestmark = pytest.mark.ray


@pytest.fixture
def ex(ray_cluster: None):
    with cairn.compute.executor("ray") as executor:
        yield executor


def test_futures_nobody_waits_for_are_let_go_once_their_tasks_end(ex):
    import ray

    dropped = [ex.submit(square, i) for i in range(SWEEP_AT_LEAST // 2)]
    ready, _ = ray.wait([f.ref for f in dropped], num_returns=len(dropped), timeout=120)
    assert len(ready) == len(dropped)
    gone = [weakref.ref(f) for f in dropped]
    del dropped
    kept = [ex.submit(square, i) for i in range(SWEEP_AT_LEAST)]  # passes the sweep mark
    gc.collect()
    assert not any(ref() for ref in gone)
    assert [f.result(timeout=60) for f in kept] == [i * i for i in range(SWEEP_AT_LEAST)]


def test_the_sweep_settles_the_futures_whose_tasks_ended(ex):
    import ray

    half = SWEEP_AT_LEAST // 2
    first = [ex.submit(square, i) for i in range(half)]
    ready, _ = ray.wait([f.ref for f in first], num_returns=half, timeout=120)
    assert len(ready) == half
    second = [ex.submit(square, i) for i in range(half + 1)]  # the last one sweeps
    assert all(concurrent.futures.Future.done(f) for f in first)  # settled, not just asked
    assert [f.result(timeout=60) for f in first] == [i * i for i in range(half)]
    assert [f.result(timeout=60) for f in second] == [i * i for i in range(half + 1)]


def test_result_with_a_timeout_leaves_the_task_running(ex, mailbox, gate):
    import ray.exceptions

    from tests.compute.helpers import announce_and_wait

    future = ex.submit(announce_and_wait, mailbox.port, gate.port)
    assert mailbox.receive()
    with pytest.raises(concurrent.futures.TimeoutError) as raised:
        future.result(timeout=0.2)
    assert not isinstance(raised.value, ray.exceptions.RayError)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=-1)  # a past deadline: Ray would read -1 as "no limit"
    assert not future.done()
    gate.open()
    assert future.result(timeout=60) > 0
