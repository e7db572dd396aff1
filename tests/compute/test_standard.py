"""Where cairn's executors behave as the `concurrent.futures` executors do (and, with
futures as arguments, as Ray's object refs do): each a deviation that was fixed."""

from __future__ import annotations

import concurrent.futures
import gc
import multiprocessing
import pickle
import threading
import tracemalloc
import weakref

import pytest

import cairn.compute
from cairn.compute import InitializerFailed, InvalidTaskOptions, NotAnActorMethod, NotPicklable
from cairn.errors import CairnError
from tests.compute import helpers
from tests.compute.helpers import (
    Blob,
    Counter,
    Gate,
    SetsEventWhenCollected,
    add,
    announce_and_wait,
    append_line,
    blob_size,
    count_up,
    explode,
    fail_times,
    fail_to_initialize,
    initialize,
    initialized,
    make_blob,
    pid_of,
    put,
    square,
    worker_pids,
)

POOLS = ["local", "thread"]
MB = 1 << 20


def test_an_executor_is_a_concurrent_futures_executor(ex):
    assert isinstance(ex, concurrent.futures.Executor)


# Task options: out of the keywords a task's function receives.


def test_options_apply_to_the_tasks_of_the_view_and_not_to_the_executor(ex, tmp_path):
    calls = str(tmp_path / "calls")
    retrying = ex.options(retries=1)
    assert retrying.submit(fail_times, calls, 1).result(timeout=60) == 2
    with pytest.raises(RuntimeError, match="failure 3"):  # the executor itself does not retry
        ex.submit(fail_times, calls, 3).result(timeout=60)
    # A view of a view keeps the options it does not change: call 4 fails, 5 succeeds.
    assert retrying.options(timeout=60).submit(fail_times, calls, 4).result(timeout=60) == 5
    assert retrying.url == ex.url and retrying.workers == ex.workers


def test_map_through_options_retries_each_item(ex, tmp_path):
    counters = [str(tmp_path / f"item{i}") for i in range(4)]  # each item fails once
    assert list(ex.options(retries=1).map(fail_times, counters, [1] * 4)) == [2] * 4


def test_options_that_do_not_apply_are_refused(ex):
    with pytest.raises(InvalidTaskOptions, match="deadline on the whole map"):
        ex.options(timeout=5).map(square, [1])
    with pytest.raises(InvalidTaskOptions, match="resources only"):
        ex.options(retries=1).actor(Counter)
    for bad in [{"retries": -1}, {"retries": 1.5}, {"timeout": 0}, {"timeout": float("inf")}]:
        with pytest.raises(InvalidTaskOptions):
            ex.options(**bad)


# Chunk sizes, pickling, Manager proxies.


@pytest.mark.parametrize("chunksize", [0, -1])
def test_a_chunksize_below_one_is_refused(ex, chunksize):
    with pytest.raises(InvalidTaskOptions, match="chunksize must be at least 1") as refused:
        list(ex.map(square, range(40), chunksize=chunksize))
    assert isinstance(refused.value, ValueError)


def test_pickling_errors_are_picklingerrors():
    with cairn.compute.executor("local", workers=1) as ex:
        argument = ex.submit(square, threading.Lock()).exception(timeout=60)
        result = ex.submit(count_up, 3).exception(timeout=60)  # returns a generator
    for error in (argument, result):
        assert isinstance(error, pickle.PicklingError) and isinstance(error, NotPicklable)
        assert isinstance(error, CairnError) and isinstance(error, TypeError)
    assert "argument 0 (a lock)" in str(argument)
    assert "result could not be pickled" in str(result)


def test_manager_proxies_work_inside_tasks():
    with multiprocessing.Manager() as manager, cairn.compute.executor("local", workers=1) as ex:
        shared = manager.dict()
        ex.submit(put, shared, "answer", 42).result(timeout=60)
        assert shared["answer"] == 42


# Initializers.


@pytest.mark.parametrize("url", POOLS)
def test_the_initializer_runs_in_each_worker_before_its_tasks(url, mailbox, gate, monkeypatch):
    monkeypatch.setattr(helpers, "INITIALIZED", helpers.INITIALIZED)  # the thread pool sets it
    with cairn.compute.executor(url, workers=2, initializer=initialize, initargs=("ready",)) as ex:
        # Both workers busy at once: each answers for itself.
        blockers = [ex.submit(announce_and_wait, mailbox.port, gate.port) for _ in range(2)]
        assert mailbox.receive() and mailbox.receive()
        gate.open()
        concurrent.futures.wait(blockers, timeout=60)
        assert [ex.submit(initialized).result(timeout=60) for _ in range(4)] == ["ready"] * 4


@pytest.mark.parametrize("url", POOLS)
def test_a_failing_initializer_breaks_the_executor(url, caplog):
    with cairn.compute.executor(url, workers=2, initializer=fail_to_initialize) as ex:
        try:
            error = ex.submit(square, 2).exception(timeout=60)
        except InitializerFailed as refused:  # broken already
            error = refused
        assert isinstance(error, InitializerFailed)
        assert isinstance(error, concurrent.futures.BrokenExecutor)
        assert isinstance(error, CairnError)
        assert "initializer failed on purpose" in str(error)
        with pytest.raises(InitializerFailed):
            ex.submit(square, 2)
    if url == "thread":  # logged where a ThreadPoolExecutor logs it
        assert "initializer failed on purpose" in caplog.text


# What the executors let go of.


@pytest.mark.parametrize("url", POOLS)
def test_map_lets_go_of_each_result_once_handed_over(url):
    count, size = 10, 8 * MB
    tracemalloc.start()
    try:
        with cairn.compute.executor(url, workers=2) as ex:
            results = ex.map(make_blob, [size] * count, chunksize=2)
            ex.shutdown(wait=True)  # every result is made before the first is read
            previous = None
            for read, blob in enumerate(results, 1):
                assert previous is None or previous() is None  # the last one is gone
                previous = weakref.ref(blob)
                del blob
                held, _ = tracemalloc.get_traced_memory()
                # Those not read yet, and the one just read: not those read before.
                assert held < (count - read + 2) * size
    finally:
        tracemalloc.stop()


def test_a_thread_worker_lets_go_of_a_tasks_arguments_once_it_ran():
    with cairn.compute.executor("thread", workers=1) as ex:
        blob = Blob(1024)
        gone = weakref.ref(blob)
        assert ex.submit(blob_size, blob).result(timeout=60) == 1024
        del blob
        gc.collect()
        assert gone() is None


def test_a_worker_process_lets_go_of_a_tasks_arguments_before_it_answers():
    with multiprocessing.Manager() as manager, cairn.compute.executor("local", workers=1) as ex:
        watched = SetsEventWhenCollected(manager)
        ex.submit(id, watched).result(timeout=60)
        assert watched.event.is_set()  # collected in the worker, not when its next task came
        del watched  # while its manager is up


# Cancelling what has not started.


@pytest.mark.parametrize("url", POOLS)
def test_cancel_succeeds_on_every_task_not_started(url, mailbox, tmp_path):
    log = tmp_path / "ran"
    first_gate, second_gate = Gate(), Gate()
    try:
        with cairn.compute.executor(url, workers=1) as ex:
            first = ex.submit(announce_and_wait, mailbox.port, first_gate.port, "first")
            assert mailbox.receive().startswith("first")
            second = ex.submit(announce_and_wait, mailbox.port, second_gate.port, "second")
            queued = [ex.submit(append_line, str(log), str(i)) for i in range(39)]
            first_gate.open()  # its worker takes the 40 queued in one batch: `second` runs
            assert mailbox.receive().startswith("second")
            assert second.running() and not second.cancel()
            assert not any(future.running() for future in queued)
            assert all(future.cancel() for future in queued)
            assert concurrent.futures.wait(queued, timeout=60).done == set(queued)
            second_gate.open()
            assert second.result(timeout=60) and first.result(timeout=60)
        assert all(future.cancelled() for future in queued)
        assert not log.exists()  # none of them ran
    finally:
        first_gate.open()
        second_gate.open()


# Futures as arguments.


def test_a_future_argument_is_replaced_by_its_result(ex):
    three = ex.submit(square, 3)
    assert ex.submit(add, three, y=ex.submit(square, 2)).result(timeout=60) == 13
    plain: concurrent.futures.Future = concurrent.futures.Future()
    waiting = ex.submit(add, plain, 1)
    assert not waiting.done()
    plain.set_result(41)
    assert waiting.result(timeout=60) == 42


def test_a_task_whose_future_argument_failed_fails_likewise_and_never_runs(ex, tmp_path):
    log = tmp_path / "ran"
    failed = ex.submit(explode, "upstream")
    dependent = ex.submit(append_line, str(log), failed)
    with pytest.raises(ValueError, match="upstream"):
        dependent.result(timeout=60)
    cancelled: concurrent.futures.Future = concurrent.futures.Future()
    after_cancelled = ex.submit(append_line, str(log), cancelled)
    cancelled.cancel()
    assert concurrent.futures.wait([after_cancelled], timeout=60).done
    assert after_cancelled.cancelled()
    ex.shutdown(wait=True)
    assert not log.exists()


def test_shutdown_waits_for_a_task_whose_argument_was_pending(ex, tmp_path):
    upstream: concurrent.futures.Future = concurrent.futures.Future()
    dependent = ex.submit(append_line, str(tmp_path / "ran"), upstream)
    shutting = threading.Thread(target=ex.shutdown)
    shutting.start()
    shutting.join(timeout=0.5)
    assert shutting.is_alive()  # submitted before the shutdown: it waits for the task
    upstream.set_result("late")
    shutting.join(timeout=60)
    assert not shutting.is_alive()
    assert dependent.result(timeout=0) == "late"


def test_a_task_waiting_for_its_argument_can_be_cancelled(ex, tmp_path):
    upstream: concurrent.futures.Future = concurrent.futures.Future()
    dependent = ex.submit(append_line, str(tmp_path / "ran"), upstream)
    assert dependent.cancel()
    upstream.set_result("never")
    ex.shutdown(wait=True)
    assert dependent.cancelled() and not (tmp_path / "ran").exists()


# Actor handles.


class WithData(Counter):
    limit = 10  # a class attribute that is data, not a method

    @property
    def doubled(self) -> int:
        return 2 * self.value


def test_an_actor_handle_reaches_methods_only(ex):
    counter = ex.actor(WithData, 1)
    for name in ["value", "limit", "doubled", "missing"]:
        with pytest.raises(NotAnActorMethod, match=name) as refused:
            getattr(counter, name)
        assert isinstance(refused.value, AttributeError) and isinstance(refused.value, CairnError)
    assert counter.add(2).result(timeout=60) == 3


# cairn.map's pool.


def test_cairn_map_reuses_one_warm_pool():
    first = set(cairn.compute.map(pid_of, range(8)))
    workers = worker_pids()
    second = set(cairn.compute.map(pid_of, range(8)))
    assert worker_pids() == workers  # no pool started or stopped
    assert first | second <= workers
