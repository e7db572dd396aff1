"""Executors at interpreter exit and across fork: work left running is finished, as the
standard executors finish it; after Ctrl-C it is stopped (test_failures.py); a forked
child never touches its parent's workers."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from tests.compute.helpers import run_python, start_python

POOLS = ["local", "thread"]


@pytest.mark.parametrize("url", POOLS)
@pytest.mark.parametrize(
    "submit",
    [
        "ex = cairn.compute.executor({url!r}, workers=2)\nex.submit(",
        "cairn.compute.executor({url!r}, workers=2).submit(",  # held by nobody
    ],
    ids=["held", "unreferenced"],
)
def test_work_submitted_without_shutdown_is_finished_at_exit(url, submit, mailbox, gate):
    call = submit.format(url=url) + f'wait_and_print, {gate.port}, "apple")'
    process = start_python(
        "import cairn.compute\n"
        "from tests.compute.helpers import post, wait_and_print\n"
        f"{call}\n"
        f"post({mailbox.port}, 'main done')\n"
    )
    try:
        assert mailbox.receive() == "main done"
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)  # the script has ended: its interpreter waits for the task
        gate.open()
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    assert out.strip() == "apple"
    assert err == ""


@pytest.mark.parametrize("url", POOLS)
def test_shutdown_without_wait_still_finishes_before_exit(url, gate):
    process = start_python(f"""
        import cairn.compute
        from tests.compute.helpers import wait_and_print
        ex = cairn.compute.executor({url!r}, workers=2)
        ex.submit(wait_and_print, {gate.port}, "apple")
        ex.shutdown(wait=False)
    """)
    gate.open()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and out.strip() == "apple" and err == ""


@pytest.mark.parametrize("url", POOLS)
def test_submit_during_interpreter_exit_is_refused(url):
    out, _ = run_python(f"""
        import atexit

        def run_last():
            for executor in (ex, cairn.compute.executor("thread", workers=1)):
                try:
                    executor.submit(id, None)
                except RuntimeError as refused:
                    print(type(refused).__name__, refused)

        atexit.register(run_last)  # registered first: runs after cairn's exit hooks
        import cairn.compute

        ex = cairn.compute.executor({url!r}, workers=2)
        ex.submit(id, 42).result()
    """)
    assert out.splitlines() == [
        "ExecutorShutDown cannot schedule new futures after shutdown",
        "ExecutorShutDown cannot schedule new futures after interpreter shutdown",
    ]


def test_the_shared_map_pool_stops_at_exit_and_a_forked_child_starts_its_own():
    out, err = run_python(
        """
        import os, sys
        import cairn.compute
        from tests.compute.helpers import pid_of, worker_pids

        ran = set(cairn.compute.map(pid_of, range(8)))
        workers = worker_pids()
        assert ran <= workers and len(workers) == os.cpu_count(), (ran, workers)
        child = os.fork()
        if child == 0:
            own = set(cairn.compute.map(pid_of, range(8)))
            sys.exit(0 if own and not own & workers else 3)
        assert os.waitpid(child, 0)[1] == 0, "the child used its parent's workers"
        assert set(cairn.compute.map(pid_of, range(8))) <= workers  # untouched by the child
        assert worker_pids() == workers
        print(*sorted(workers))
        """,
        "-W",
        "always::ResourceWarning",
    )
    workers = [int(pid) for pid in out.split()]
    assert workers and not any(psutil.pid_exists(pid) for pid in workers)  # stopped, not left
    assert err == ""


# What this relies on in the standard library, beyond its documentation.


def test_threading_exit_hooks_run_before_threads_are_joined_and_before_atexit():
    out, _ = run_python("""
        import atexit, threading

        release = threading.Event()
        threading.Thread(target=lambda: (release.wait(), print("thread ends"))).start()
        threading._register_atexit(lambda: (print("hook"), release.set()))
        atexit.register(print, "atexit")
    """)
    assert out.splitlines() == ["hook", "thread ends", "atexit"]


def test_an_exit_hook_sees_the_keyboardinterrupt_the_interpreter_ends_on():
    process = start_python("""
        import sys, threading

        threading._register_atexit(
            lambda: print(isinstance(getattr(sys, "last_value", None), KeyboardInterrupt))
        )
        raise KeyboardInterrupt
    """)
    out, _ = process.communicate(timeout=60)
    assert out.strip() == "True"
