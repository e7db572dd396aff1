"""What only the Ray backend's futures do: fetch on demand, and not outlive their use."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest

import cairn.compute
from cairn.compute.ray_backend import SWEEP_AT_LEAST
from tests.compute.helpers import make_unloadable, square
from tests.conftest import ROOT

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


def test_a_result_the_caller_cannot_load_fails_only_its_own_future(ex):
    import ray
    import ray.exceptions

    future = ex.submit(make_unloadable, os.getpid())
    with pytest.raises(ray.exceptions.RaySystemError, match="cannot be loaded"):
        future.result(timeout=60)
    assert concurrent.futures.Future.done(future)  # settled: asking again asks nobody
    dropped = ex.submit(make_unloadable, os.getpid())
    assert ray.wait([dropped.ref], timeout=120)[0]
    kept = [ex.submit(square, i) for i in range(SWEEP_AT_LEAST)]  # the sweep meets it
    assert concurrent.futures.Future.done(dropped)
    assert [f.result(timeout=60) for f in kept] == [i * i for i in range(SWEEP_AT_LEAST)]


def test_cancel_after_the_task_ended_is_refused_and_keeps_the_result(ex):
    import ray

    future = ex.submit(square, 3)
    assert ray.wait([future.ref], timeout=120)[0]
    assert not future.cancel()
    assert future.result(timeout=0) == 9


SHARED_RAY = """
    from concurrent.futures import CancelledError
    import threading

    import ray

    import cairn.compute

    def square(x):
        return x * x

    def block():
        threading.Event().wait()

    first = cairn.compute.executor("ray", workers=2)  # starts Ray
    second = cairn.compute.executor("ray")  # joins it
    first.shutdown()
    assert ray.is_initialized(), "Ray stopped under an executor still open"
    assert second.submit(square, 3).result(timeout=60) == 9
    stuck = second.submit(block)
    second.shutdown(wait=False)  # the last one out stops the Ray cairn started
    assert not ray.is_initialized()
    try:
        stuck.result(timeout=0)
    except CancelledError as exc:
        print("stuck:", exc)
    assert not ray.is_initialized(), "asking a stopped Ray started it again"
"""


def test_the_ray_cairn_starts_stops_with_the_last_executor_and_settles_its_futures():
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SHARED_RAY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stuck: task 'block': the executor was shut down before the task ended" in done.stdout


def test_a_done_callback_that_waits_on_another_task_does_not_stall_ray(ex, mailbox, gate):
    from tests.compute.helpers import announce_and_wait

    blocker = ex.submit(announce_and_wait, mailbox.port, gate.port)
    assert mailbox.receive()
    entered, finished = threading.Event(), threading.Event()

    def wait_for_blocker(_: concurrent.futures.Future) -> None:
        entered.set()
        blocker.result(timeout=120)
        finished.set()

    ex.submit(square, 2).add_done_callback(wait_for_blocker)
    assert entered.wait(timeout=60)
    assert ex.submit(square, 5).result(timeout=30) == 25  # Ray still answers meanwhile
    gate.open()
    assert finished.wait(timeout=60)
