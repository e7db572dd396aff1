"""The behaviour every backend shares: results, map, errors, cancel, timeouts, retries,
actors, resources."""

from __future__ import annotations

import concurrent.futures
import functools
import re
import threading
import time
from concurrent.futures import CancelledError

import pytest

import cairn.compute
from cairn.compute import InvalidTaskOptions
from tests.compute.helpers import (
    Broken,
    Counter,
    add,
    announce_and_wait,
    append_line,
    explode,
    fail_on_three,
    fail_times,
    make_error,
    occupy_both_workers,
    raise_unpicklable,
    square,
)


def test_submit_returns_the_result(ex):
    assert ex.submit(add, 2, y=3).result(timeout=60) == 5


def test_closures_and_lambdas_travel(ex):
    offset = 10
    assert ex.submit(lambda x: x + offset, 1).result(timeout=60) == 11


def test_a_function_defined_again_is_sent_again(ex):
    namespace: dict = {}
    exec("def step(x):\n    return x + 1", namespace)
    first = namespace["step"]
    exec("def step(x):\n    return x + 2", namespace)
    assert ex.submit(first, 1).result(timeout=60) == 2
    assert ex.submit(namespace["step"], 1).result(timeout=60) == 3
    assert ex.submit(first, 1).result(timeout=60) == 2


def test_a_function_sees_what_it_names_rebound_between_calls(ex):
    namespace: dict = {}
    exec("OFFSET = 1\ndef shift(x):\n    return x + OFFSET", namespace)
    shift = namespace["shift"]
    assert ex.submit(shift, 1).result(timeout=60) == 2
    namespace["OFFSET"] = 10
    assert ex.submit(shift, 1).result(timeout=60) == 11
    shift.__defaults__ = (100,)
    assert ex.submit(shift).result(timeout=60) == 110
    assert list(ex.map(shift, [1])) == [11]


def test_a_function_sees_a_global_rebound_under_a_helper_it_calls(ex):
    namespace: dict = {}
    source = "OFFSET = 1\ndef offset():\n    return OFFSET\ndef shift(x):\n    return x + offset()"
    exec(source, namespace)
    shift = namespace["shift"]
    assert ex.submit(shift, 1).result(timeout=60) == 2
    namespace["OFFSET"] = 10
    assert ex.submit(shift, 1).result(timeout=60) == 11


def test_an_actor_whose_constructor_raises_says_so_on_every_call(ex):
    broken = ex.actor(Broken)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="constructor failed(.|\n)*broken on purpose"):
            broken.get().result(timeout=60)


def test_map_timeout_counts_from_the_call(ex, mailbox, gate):
    task = functools.partial(announce_and_wait, mailbox.port, gate.port)
    started = time.monotonic()
    results = ex.map(task, ["a", "b"], chunksize=1, timeout=1.0)
    assert mailbox.receive() and mailbox.receive()  # both blocked: no chunk can end
    threading.Event().wait(max(0.0, started + 1.0 - time.monotonic()))  # the timeout passes
    asked = time.monotonic()
    with pytest.raises(concurrent.futures.TimeoutError):
        next(results)
    assert time.monotonic() - asked < 0.5  # at once, not after another second
    gate.open()


def test_a_done_callback_may_submit_and_wait(ex):
    seen = []
    first = ex.submit(square, 2)
    first.add_done_callback(lambda done: seen.append(ex.submit(square, 3).result(timeout=60)))
    assert first.result(timeout=60) == 4
    ex.shutdown(wait=True)
    assert seen == [9]


@pytest.mark.parametrize("chunksize", [None, 1, 7])
def test_map_keeps_the_order_of_the_items(ex, chunksize):
    assert list(ex.map(add, range(50), range(50), chunksize=chunksize)) == [
        2 * i for i in range(50)
    ]


def test_map_runs_its_chunks_at_once_on_both_workers(ex, mailbox, gate):
    task = functools.partial(announce_and_wait, mailbox.port, gate.port)
    results = ex.map(task, ["a", "b"], chunksize=1)
    assert {mailbox.receive()[0], mailbox.receive()[0]} == {"a", "b"}  # both running
    gate.open()
    assert len(list(results)) == 2


def test_map_raises_an_items_exception_when_reached(ex):
    results = ex.map(explode, ["first"], chunksize=1)
    with pytest.raises(ValueError, match="first"):
        next(results)


def test_cairn_map_returns_every_result(ex):
    assert cairn.compute.map(square, range(20), executor=ex) == [i * i for i in range(20)]


def test_exception_carries_the_remote_traceback(ex):
    future = ex.submit(explode, "boom")
    with pytest.raises(ValueError, match="boom") as raised:
        future.result(timeout=60)
    remote = raised.value.__cause__
    assert isinstance(remote, cairn.compute.RemoteTraceback)
    assert "in explode" in str(remote)


def test_wait_and_as_completed_take_the_futures(ex):
    futures = [ex.submit(square, i) for i in range(5)]
    done, not_done = cairn.compute.wait(futures, timeout=60)
    assert not not_done
    assert sorted(f.result() for f in cairn.compute.as_completed(futures)) == [0, 1, 4, 9, 16]


def test_the_standard_ways_of_waiting_see_the_results(ex):
    futures = [ex.submit(square, i) for i in range(4)]
    called = threading.Event()
    futures[0].add_done_callback(lambda done: called.set())
    done, not_done = concurrent.futures.wait(futures, timeout=60)
    assert len(done) == 4 and not not_done
    assert called.wait(timeout=60)
    later = [ex.submit(square, i) for i in range(4)]
    completed = concurrent.futures.as_completed(later, timeout=60)
    assert sorted(f.result() for f in completed) == [0, 1, 4, 9]


def test_a_returned_exception_is_a_value(ex):
    returned = ex.submit(make_error, "not raised").result(timeout=60)
    assert isinstance(returned, ValueError) and str(returned) == "not raised"


def test_an_exception_that_cannot_be_pickled_keeps_its_traceback(ex):
    future = ex.submit(raise_unpicklable)
    with pytest.raises(Exception, match="Unpicklable") as raised:
        future.result(timeout=60)
    assert "in raise_unpicklable" in str(raised.value)


def test_cancel_a_queued_task(ex, mailbox, gate):
    blockers = occupy_both_workers(ex, mailbox, gate)
    queued = ex.submit(square, 3)
    with_policy = ex.options(timeout=120).submit(square, 4)
    assert queued.cancel() and queued.cancel()  # a second cancel is harmless
    assert queued.done() and queued.cancelled()
    assert with_policy.cancel() and with_policy.cancel()
    assert concurrent.futures.wait([with_policy], timeout=60).done == {with_policy}
    gate.open()
    assert all(b.result(timeout=60) for b in blockers)
    with pytest.raises(CancelledError):
        queued.result()


def test_shutdown_cancel_futures_cancels_what_has_not_started(ex, mailbox, gate):
    occupy_both_workers(ex, mailbox, gate)  # running ones may be stopped or finish
    queued = ex.submit(square, 3)
    ex.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    assert concurrent.futures.wait([queued], timeout=60).done == {queued}  # waiters told
    with pytest.raises(CancelledError):
        queued.result(timeout=0)
    gate.open()
    ex.shutdown()  # a second shutdown is harmless


def test_shutdown_without_wait_still_runs_what_was_submitted(ex, mailbox, gate):
    blockers = occupy_both_workers(ex, mailbox, gate)
    queued = ex.submit(square, 3)
    ex.shutdown(wait=False)
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(square, 4)
    gate.open()
    assert queued.result(timeout=60) == 9
    assert all(b.result(timeout=60) for b in blockers)


def test_terminate_ends_a_shutdown_that_waits(ex, mailbox, gate):
    blocked = ex.options(timeout=300).submit(announce_and_wait, mailbox.port, gate.port)
    assert mailbox.receive()
    waiting = threading.Thread(target=ex.shutdown)
    waiting.start()
    ex.terminate()
    waiting.join(timeout=60)
    assert not waiting.is_alive()
    assert blocked.done()


def test_a_task_that_times_out_while_queued_never_runs(ex, mailbox, gate, tmp_path):
    log = str(tmp_path / "ran")
    blockers = occupy_both_workers(ex, mailbox, gate)
    late = ex.options(timeout=0.5).submit(append_line, log, "late")
    with pytest.raises(TimeoutError, match="append_line"):
        late.result(timeout=60)
    gate.open()
    assert all(b.result(timeout=60) for b in blockers)
    assert ex.submit(append_line, log, "after").result(timeout=60) == "after"
    ex.shutdown(wait=True)  # whatever was still queued has run by now
    with open(log) as ran:
        assert ran.read().split() == ["after"]


def test_shutdown_waits_for_a_retry_that_starts_after_it(ex, tmp_path):
    retried = ex.options(retries=1).submit(fail_times, str(tmp_path / "calls"), 1)
    ex.shutdown(wait=True)
    assert retried.result(timeout=0) == 2


def test_a_task_past_its_timeout_fails_and_the_pool_goes_on(ex, mailbox, gate):
    slow = ex.options(timeout=1.0).submit(announce_and_wait, mailbox.port, gate.port)
    with pytest.raises(cairn.compute.TaskTimeout, match="announce_and_wait"):
        slow.result(timeout=60)
    if ex.url != "thread":
        # A process backend stops the task (ends its worker) before the timeout is raised,
        # and Ray tells of it later: the gate stays shut until then, or the task could end
        # on its own and Ray's late stop hit the next task on that worker.
        assert concurrent.futures.wait([slow.attempt], timeout=60).done
    gate.open()
    assert ex.submit(square, 4).result(timeout=60) == 16


def test_retries_resubmit_a_failed_task(ex, tmp_path):
    counter = str(tmp_path / "calls")
    assert ex.options(retries=2).submit(fail_times, counter, 2).result(timeout=60) == 3
    with pytest.raises(RuntimeError, match="failure"):
        ex.options(retries=1).submit(fail_times, str(tmp_path / "other"), 2).result(timeout=60)


def test_an_actor_keeps_its_state_in_one_worker(ex):
    counter = ex.actor(Counter, 10)
    calls = [counter.add(1) for _ in range(5)]
    assert [c.result(timeout=60) for c in calls] == [11, 12, 13, 14, 15]
    assert counter.where().result(timeout=60) == counter.where().result(timeout=60)


def test_an_actor_whose_constructor_fails_says_so(ex):
    broken = ex.actor(Counter, "not a number")
    with pytest.raises(TypeError):
        broken.add(1).result(timeout=60)


def test_a_task_never_oversubscribes_the_cpus(ex, mailbox, gate):
    both_cpus = ex.options(resources={"cpus": 2})
    whole = both_cpus.submit(announce_and_wait, mailbox.port, gate.port, "big")
    assert mailbox.receive().startswith("big")
    small = ex.submit(announce_and_wait, mailbox.port, gate.port, "small")
    assert mailbox.receive(timeout=0.5) is None  # both CPUs are taken: it must not start
    gate.open()
    assert mailbox.receive().startswith("small")
    assert whole.result(timeout=60) and small.result(timeout=60)


def test_a_task_larger_than_the_pool_is_refused(ex):
    with pytest.raises(InvalidTaskOptions, match="needs 5 CPUs"):
        ex.options(resources={"cpus": 5}).submit(square, 1)
    with pytest.raises(InvalidTaskOptions, match="needs 1 CPUs and 1 GPUs"):
        ex.options(resources={"gpus": 1}).submit(square, 1)
    with pytest.raises(InvalidTaskOptions, match="1 GPUs; this"):
        ex.options(resources={"gpus": 1}).actor(Counter)
    with pytest.raises(InvalidTaskOptions, match="needs 3 CPUs"):
        ex.options(resources={"cpus": 3}).map(square, [1])
    assert ex.submit(square, 3).result(timeout=60) == 9


def test_unknown_resources_are_refused(ex):
    with pytest.raises(InvalidTaskOptions, match="known: cpus, gpus"):
        ex.options(resources={"tpus": 1})


def test_submit_after_shutdown_raises(url):
    executor = cairn.compute.executor(url, workers=1)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)


def test_submit_passes_every_keyword_to_the_function(ex):
    # cairn's options are out of the keyword space: `timeout` and the rest reach `fn`.
    options = {"timeout": 3, "retries": 2, "resources": {"cpus": 9}}
    assert ex.submit(dict, **options).result(timeout=60) == options


def test_unknown_scheme_names_the_known_ones():
    with pytest.raises(InvalidTaskOptions, match="known schemes: local, ray, thread"):
        cairn.compute.executor("slurm://cluster")


def test_cairn_map_shows_done_total_rate_and_failures_on_stderr(ex, capsys):
    with pytest.raises(ValueError, match="three"):
        cairn.compute.map(fail_on_three, range(8), executor=ex, chunksize=1, progress=True)
    captured = capsys.readouterr()
    assert "fail_on_three" not in captured.out
    bar = captured.err
    assert "fail_on_three" in bar and "8/8" in bar and "1 failed" in bar
    assert re.search(r"[\d,]+/s", bar)
