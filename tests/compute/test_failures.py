"""Workers that die, Ctrl-C, orphans, and what cannot be pickled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import CancelledError

import numpy as np
import psutil
import pytest

import cairn.compute
from cairn.compute import wire
from cairn.errors import CairnError
from tests.compute.helpers import (
    announce_and_wait,
    count_up,
    exit_with,
    kill_own_process,
    ones,
    run_python,
    square,
    worker_pids,
)
from tests.conftest import ROOT

PROCESS_BACKENDS = ["local", pytest.param("ray", marks=pytest.mark.ray)]


@pytest.fixture(params=PROCESS_BACKENDS)
def process_url(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def test_a_killed_worker_fails_its_task_and_the_pool_goes_on(process_url, mailbox, gate):
    with cairn.compute.executor(process_url, workers=2) as ex:
        doomed = ex.submit(announce_and_wait, mailbox.port, gate.port)
        pid = int(mailbox.receive())
        others = [ex.submit(square, i) for i in range(20)]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(cairn.compute.WorkerLost, match="announce_and_wait") as lost:
            doomed.result(timeout=60)
        assert isinstance(lost.value, CairnError)
        assert [f.result(timeout=60) for f in others] == [i * i for i in range(20)]
        assert ex.submit(square, 5).result(timeout=60) == 25


def test_results_of_a_batch_whose_worker_died_leave_no_shared_memory(mailbox, gate):
    def ours() -> set[str]:
        return {path for path in os.listdir(wire.SHM_DIR) if path.startswith("cairn-")}

    before = ours()
    with cairn.compute.executor("local", workers=1) as ex:
        first = ex.submit(announce_and_wait, mailbox.port, gate.port)
        assert mailbox.receive()
        big = ex.submit(ones, wire.SHARED_MIN_BYTES // 8 * 2)  # its result: shared memory
        doomed = ex.submit(kill_own_process)  # in one batch with `big`, after it
        gate.open()
        assert first.result(timeout=60) > 0
        with pytest.raises(cairn.compute.WorkerLost, match="kill_own_process"):
            doomed.result(timeout=60)
        assert big.result(timeout=60).sum() == wire.SHARED_MIN_BYTES // 8 * 2  # run again
    assert ours() == before


def test_a_task_refused_for_its_resources_leaves_no_shared_memory():
    before = set(os.listdir(wire.SHM_DIR))
    with cairn.compute.executor("local", workers=1) as ex:
        big = np.zeros(wire.SHARED_MIN_BYTES // 8 * 2)
        with pytest.raises(ValueError, match="needs 5 CPUs"):
            ex.options(resources={"cpus": 5}).submit(square, big)
    assert set(os.listdir(wire.SHM_DIR)) == before


@pytest.mark.parametrize("url", ["local", "thread"])
def test_zero_workers_is_refused(url):
    with pytest.raises(ValueError, match="at least 1"):
        cairn.compute.executor(url, workers=0)


@pytest.mark.parametrize("url", ["local", "thread"])
def test_sys_exit_in_a_task_is_its_outcome_and_its_worker_goes_on(url):
    # As in ProcessPoolExecutor and ThreadPoolExecutor: the future's exception is the SystemExit.
    with cairn.compute.executor(url, workers=1) as ex:
        worker = ex.submit(os.getpid).result(timeout=60)
        with pytest.raises(SystemExit) as exited:
            ex.submit(exit_with, 3).result(timeout=60)
        assert exited.value.code == 3
        assert ex.submit(os.getpid).result(timeout=60) == worker


def test_a_task_whose_process_exits_fails_its_future_and_the_pool_goes_on():
    with cairn.compute.executor("local", workers=1) as ex:
        with pytest.raises(cairn.compute.WorkerLost, match="exited with code 3"):
            ex.submit(os._exit, 3).result(timeout=60)
        assert ex.submit(square, 4).result(timeout=60) == 16


def test_a_killed_actor_fails_its_calls(process_url, mailbox, gate):
    with cairn.compute.executor(process_url, workers=1) as ex:
        from tests.compute.helpers import Counter

        counter = ex.actor(Counter)
        os.kill(counter.where().result(timeout=60), signal.SIGKILL)
        with pytest.raises(cairn.compute.WorkerLost):
            counter.add(1).result(timeout=60)


def test_an_unpicklable_argument_is_named(process_url):
    with cairn.compute.executor(process_url, workers=1) as ex:
        future = ex.submit(square, threading.Lock())
        with pytest.raises(TypeError, match=r"argument 0 \(a lock\) cannot be pickled"):
            future.result(timeout=60)


def test_a_result_that_cannot_be_pickled_says_so(process_url):
    with cairn.compute.executor(process_url, workers=1) as ex:
        future = ex.submit(count_up, 3)  # returns a generator: Ray must not stream it
        with pytest.raises(Exception, match="pickle"):
            future.result(timeout=60)


def test_no_worker_outlives_shutdown():
    before = worker_pids()
    with cairn.compute.executor("local", workers=2) as ex:
        ex.actor(object)
        assert list(ex.map(square, range(10))) == [i * i for i in range(10)]
        assert len(worker_pids() - before) == 3
    assert worker_pids() == before


def test_ctrl_c_in_the_with_block_cancels_and_leaves_no_worker(mailbox, gate):
    before = worker_pids()
    with pytest.raises(KeyboardInterrupt), cairn.compute.executor("local", workers=2) as ex:
        running = [ex.submit(announce_and_wait, mailbox.port, gate.port) for _ in range(2)]
        queued = ex.submit(square, 1)
        assert mailbox.receive() and mailbox.receive()
        raise KeyboardInterrupt
    assert queued.cancelled()
    for future in running:
        with pytest.raises(CancelledError):
            future.result(timeout=60)
    assert worker_pids() == before


def test_sigint_in_the_caller_leaves_no_orphan_process(mailbox, gate):
    script = textwrap.dedent(f"""
        import cairn.compute
        from tests.compute.helpers import announce_and_wait, post
        ex = cairn.compute.executor("local", workers=2)
        futures = [ex.submit(announce_and_wait, {mailbox.port}, {gate.port}) for _ in range(4)]
        post({mailbox.port}, "ready")
        futures[0].result()
    """)
    caller = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    messages = {mailbox.receive() for _ in range(3)}  # two blocked workers, and "ready"
    workers = [psutil.Process(int(m)) for m in messages - {"ready"}]
    assert len(workers) == 2
    caller.send_signal(signal.SIGINT)
    assert caller.wait(timeout=60) != 0
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive


def test_shutdown_stops_the_workers_that_replaced_dead_ones():
    out, err = run_python(
        """
        import os
        import cairn.compute
        from tests.compute.helpers import worker_pids

        for _ in range(5):
            with cairn.compute.executor("local", workers=2) as ex:
                try:
                    ex.submit(os._exit, 1).result(timeout=60)
                except cairn.compute.WorkerLost:
                    pass
        print(len(worker_pids()))
        """,
        "-W",
        "always::ResourceWarning",
    )
    assert out.strip() == "0"  # no replacement left idle until the caller exits
    assert "Traceback" not in err and "ResourceWarning" not in err
