"""What compute/future_internals.py relies on inside `concurrent.futures.Future`: if a
Python release changes it, these fail first."""

from __future__ import annotations

import concurrent.futures
import threading
from concurrent.futures import Future

import pytest

from cairn.compute.future_internals import WatchedFuture, cancel_now, settled


def test_the_state_field_holds_the_state_and_settled_reads_it():
    pending, running, cancelled, finished = Future(), Future(), Future(), Future()
    running.set_running_or_notify_cancel()
    cancelled.cancel()
    finished.set_result(1)
    assert [f._state for f in (pending, running, cancelled, finished)] == [
        "PENDING",
        "RUNNING",
        "CANCELLED",
        "FINISHED",
    ]
    for future in (pending, running, cancelled, finished):
        assert settled(future) == future.done()


def test_cancel_does_not_tell_wait_and_cancel_now_does():
    future = Future()
    assert future.cancel()
    assert concurrent.futures.wait([future], timeout=0).not_done == {future}
    assert cancel_now(future) is True  # the first to tell its waiters
    assert future._state == "CANCELLED_AND_NOTIFIED"
    assert concurrent.futures.wait([future], timeout=0).done == {future}
    assert cancel_now(future) is False


def test_cancel_now_wakes_a_thread_in_wait_and_runs_callbacks_outside_the_lock():
    future = Future()
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(concurrent.futures.wait([future], 60)))
    waiter.start()
    lock_free = []

    def take(condition: threading.Condition) -> None:
        lock_free.append(condition.acquire(timeout=5))
        if lock_free[-1]:
            condition.release()

    def callback(done: Future) -> None:  # another thread can take the future's lock
        taker = threading.Thread(target=take, args=(done._condition,))
        taker.start()
        taker.join()

    future.add_done_callback(callback)
    assert cancel_now(future) is True
    waiter.join(timeout=60)
    assert waited and waited[0].done == {future}
    assert lock_free == [True]
    assert cancel_now(Future()) is True
    finished = Future()
    finished.set_result(1)
    assert cancel_now(finished) is None


def test_wait_and_as_completed_read_the_waiter_list_of_a_watched_future():
    class Counting(WatchedFuture):
        reads = 0

        def waited(self) -> None:
            self.reads += 1

    future = Counting()
    concurrent.futures.wait([future], timeout=0)
    after_wait = future.reads
    assert after_wait > 0
    with pytest.raises(concurrent.futures.TimeoutError):
        list(concurrent.futures.as_completed([future], timeout=0))
    assert future.reads > after_wait
