"""Every error compute raises on purpose is a CairnError, and the standard type a caller of
`concurrent.futures` would catch."""

from __future__ import annotations

import concurrent.futures

import pytest

import cairn.compute
from cairn.compute import (
    ActorConstructorFailed,
    ExecutorShutDown,
    InvalidTaskOptions,
    TaskFailed,
    TaskTimeout,
    WorkerLost,
)
from cairn.errors import CairnError
from tests.compute.helpers import Broken, raise_unpicklable, run_python, square


def test_the_error_classes_are_cairns_and_the_standard_ones():
    assert issubclass(TaskTimeout, CairnError) and issubclass(TaskTimeout, TimeoutError)
    assert issubclass(TaskTimeout, concurrent.futures.TimeoutError)
    assert issubclass(WorkerLost, concurrent.futures.process.BrokenProcessPool)
    assert issubclass(ExecutorShutDown, RuntimeError) and issubclass(ExecutorShutDown, CairnError)
    assert issubclass(InvalidTaskOptions, ValueError) and issubclass(InvalidTaskOptions, CairnError)


def test_a_timed_out_task_fails_with_a_cairn_timeout(ex, mailbox, gate):
    from tests.compute.helpers import announce_and_wait

    slow = ex.options(timeout=0.5).submit(announce_and_wait, mailbox.port, gate.port)
    error = slow.exception(timeout=60)
    assert isinstance(error, TaskTimeout) and isinstance(error, CairnError)
    gate.open()


def test_an_actor_whose_constructor_failed_fails_its_calls_with_a_cairn_error(ex):
    error = ex.actor(Broken).get().exception(timeout=60)
    assert isinstance(error, ActorConstructorFailed) and isinstance(error, RuntimeError)
    assert "broken on purpose" in str(error)


def test_an_exception_that_cannot_travel_back_is_a_cairn_error(ex):
    error = ex.submit(raise_unpicklable).exception(timeout=60)
    assert isinstance(error, TaskFailed) and "in raise_unpicklable" in str(error)


def test_work_after_shutdown_is_refused_with_the_standard_runtimeerror(url):
    executor = cairn.compute.executor(url, workers=1)
    executor.shutdown()
    with pytest.raises(ExecutorShutDown, match="cannot schedule new futures after shutdown"):
        executor.submit(square, 1)
    with pytest.raises(RuntimeError):
        executor.map(square, [1])


@pytest.mark.parametrize(
    "make",
    [
        lambda: cairn.compute.executor("slurm://cluster"),
        lambda: cairn.compute.executor("local", workers=0),
        lambda: cairn.compute.executor("thread", initializer="not callable"),
    ],
    ids=["unknown scheme", "no workers", "initializer"],
)
def test_bad_executor_arguments_are_invalid_task_options(make):
    with pytest.raises(InvalidTaskOptions):
        make()


def test_ray_not_installed_says_which_extra_to_install():
    out, _ = run_python("""
        import sys
        sys.modules["ray"] = None  # `import ray` fails, as where Ray is not installed
        import cairn.compute
        try:
            cairn.compute.executor("ray")
        except cairn.compute.BackendUnavailable as missing:
            print(isinstance(missing, ImportError), missing)
    """)
    assert out.startswith("True ")
    assert "pip install 'cairn[ray]'" in out
