"""CPython's own tests of the `concurrent.futures` executors, run against cairn's `local`
and `thread` executors.

The suite is Lib/test/test_concurrent_futures.py as Debian installs it
(libpython3.11-testsuite); it is loaded from there, never copied. Only the executor factory
is adapted: each of the suite's test classes is subclassed with a mixin whose
`executor_type` builds a cairn executor (`max_workers` is cairn's `workers`; `mp_context`
is ignored, cairn's workers being fresh interpreters, as with "spawn"). The suite's
functions travel to the workers by name, so its folder is on `sys.path` (appended: it
shadows nothing).

The tests that cannot apply to cairn are in NOT_APPLICABLE with the reason for each;
tests/compute/conftest.py deselects them (pytest counts them as deselected).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import cairn.compute

SUITE = Path(f"/usr/lib/python{sys.version_info[0]}.{sys.version_info[1]}/test")
SUITE_FILE = SUITE / "test_concurrent_futures.py"

_INTERNALS = "reads ProcessPoolExecutor's or ThreadPoolExecutor's private state ({})"
_BY_NAME = (
    "runs a script in a subprocess that imports the executor by name from concurrent.futures "
    "(`from concurrent.futures import {executor_type.__name__}`); "
)
_STDLIB_ONLY = "builds a concurrent.futures executor itself and tests only that one"
_CAUSE = (
    "cairn's answer to the same fault is to fail only the task it hit, with the real error, "
    "and keep the pool going; the standard pool breaks as a whole ({})"
)

NOT_APPLICABLE = {
    # Both backends.
    "test_interpreter_shutdown": _BY_NAME
    + "cairn's equivalent: tests/compute/test_interpreter_exit.py::"
    "test_work_submitted_without_shutdown_is_finished_at_exit",
    "test_submit_after_interpreter_shutdown": _BY_NAME
    + "cairn's equivalent: tests/compute/test_interpreter_exit.py::"
    "test_submit_during_interpreter_exit_is_refused",
    "test_hang_gh83386": _BY_NAME + "cairn's equivalent: tests/compute/test_interpreter_exit.py::"
    "test_shutdown_without_wait_still_finishes_before_exit",
    "test_max_workers_negative": (
        "expects the message to name `max_workers`; cairn's parameter is `workers` "
        "(tests/compute/test_failures.py::test_zero_workers_is_refused)"
    ),
    "test_saturation": _INTERNALS.format("`_processes`, `_threads`, `_max_workers`")
    + "; the process variant also passes a multiprocessing Semaphore, which crosses only "
    "to processes multiprocessing starts itself",
    "test_context_manager_shutdown": _STDLIB_ONLY,
    "test_del_shutdown": _STDLIB_ONLY,
    "test_shutdown_no_wait": _STDLIB_ONLY,
    # The thread backend.
    "test_threads_terminate": _INTERNALS.format("`_threads`"),
    "test_thread_names_assigned": (
        "`thread_name_prefix` and `_threads` are ThreadPoolExecutor's; cairn's threads are "
        "named cairn-thread-worker"
    ),
    "test_thread_names_default": _INTERNALS.format("`_threads`"),
    "test_cancel_futures_wait_false": _BY_NAME
    + "cairn's equivalent: tests/compute/test_conformance.py::"
    "test_shutdown_cancel_futures_cancels_what_has_not_started",
    "test_default_workers": _INTERNALS.format("`_max_workers`")
    + "; cairn's default is one worker per CPU",
    "test_idle_thread_reuse": _INTERNALS.format("`_threads`")
    + "; cairn starts its workers with the executor",
    "test_hang_global_shutdown_lock": _STDLIB_ONLY,
    # The local backend.
    "LocalFailingInitializerTest.test_initializer": (
        "passes a multiprocessing Queue as the initializer's argument, which crosses only to "
        "processes multiprocessing starts itself (cairn's: tests/compute/test_standard.py::"
        "test_a_failing_initializer_breaks_the_executor)"
    ),
    "test_processes_terminate": _INTERNALS.format("`_processes`"),
    "test_max_workers_too_large": "Windows only (its limit of 61 processes)",
    "test_killed_child": _INTERNALS.format("`_processes`")
    + "; and a killed worker fails only its task with WorkerLost (a BrokenProcessPool) "
    "while the pool goes on (tests/compute/test_failures.py::"
    "test_a_killed_worker_fails_its_task_and_the_pool_goes_on)",
    "test_traceback": (
        "expects concurrent.futures.process's private `_RemoteTraceback` as the cause; "
        "cairn's cause is its RemoteTraceback, with the same text "
        "(tests/compute/test_conformance.py::test_exception_carries_the_remote_traceback)"
    ),
    "test_idle_process_reuse_one": _INTERNALS.format("`_processes`")
    + "; cairn starts its workers with the executor",
    "test_idle_process_reuse_multiple": _INTERNALS.format("`_processes`")
    + "; cairn starts its workers with the executor",
    "test_max_tasks_per_child": "`max_tasks_per_child` is not an option of cairn's executors",
    "test_max_tasks_per_child_defaults_to_spawn_context": (
        "`max_tasks_per_child` is not an option of cairn's executors"
    ),
    "test_max_tasks_early_shutdown": "`max_tasks_per_child` is not an option of cairn's executors",
    "test_error_at_task_unpickle": _CAUSE.format(
        "an argument whose unpickling raises fails its task with that UnpicklingError"
    ),
    "test_error_during_result_unpickle_in_result_handler": _CAUSE.format(
        "a result whose unpickling raises fails its task with that UnpicklingError"
    ),
    "test_exit_during_result_unpickle_in_result_handler": _CAUSE.format(
        "a result whose unpickling calls sys.exit() fails its task with that SystemExit"
    ),
    "test_shutdown_deadlock_pickle": _INTERNALS.format("`_executor_manager_thread`"),
}


def _factory(url: str) -> Callable[..., cairn.compute.Executor]:
    def executor_type(
        max_workers: int | None = None, mp_context: object = None, **kwargs: object
    ) -> cairn.compute.Executor:
        return cairn.compute.executor(url, max_workers, **kwargs)

    return executor_type


if not SUITE_FILE.exists():

    def test_cpython_suite_is_installed() -> None:
        pytest.fail(
            f"{SUITE_FILE} is missing: CPython's concurrent.futures tests come with Debian's "
            "test suite package: apt-get install libpython3.11-testsuite"
        )

else:
    sys.path.append(str(SUITE))
    import test_concurrent_futures as cpython

    class _LocalMixin(cpython.ProcessPoolSpawnMixin):
        executor_type = staticmethod(_factory("local"))

    class _ThreadMixin(cpython.ExecutorMixin):
        executor_type = staticmethod(_factory("thread"))

    def _define(name: str, *bases: type) -> None:
        globals()[name] = type(name, bases, {"__module__": __name__, "__qualname__": name})

    def _define_all() -> None:
        # As the suite's own create_executor_tests() combines them, with cairn's mixin.
        for prefix, mixin, suite_classes in [
            (
                "Local",
                _LocalMixin,
                [
                    cpython.InitializerMixin,
                    cpython.FailingInitializerMixin,
                    cpython.ProcessPoolShutdownTest,
                    cpython.WaitTests,
                    cpython.AsCompletedTests,
                    cpython.ProcessPoolExecutorTest,
                    cpython.ExecutorDeadlockTest,
                ],
            ),
            (
                "Thread",
                _ThreadMixin,
                [
                    cpython.InitializerMixin,
                    cpython.FailingInitializerMixin,
                    cpython.AsCompletedTests,
                ],
            ),
        ]:
            for suite_class in suite_classes:
                stem = suite_class.__name__.removesuffix("Mixin").removesuffix("Tests")
                stem = stem.removesuffix("Test").removeprefix("ProcessPool")
                _define(f"{prefix}{stem}Test", suite_class, mixin, cpython.BaseTestCase)
        # The thread pool's own test classes: the suite's class, under cairn's mixin.
        for suite_class in [
            cpython.ThreadPoolShutdownTest,
            cpython.ThreadPoolWaitTests,
            cpython.ThreadPoolExecutorTest,
        ]:
            stem = suite_class.__name__.removeprefix("ThreadPool").removesuffix("Tests")
            _define(f"Thread{stem.removesuffix('Test')}Test", _ThreadMixin, suite_class)

    _define_all()

    def test_every_test_listed_as_not_applicable_is_in_the_suite() -> None:
        classes = [
            value
            for value in globals().values()
            if isinstance(value, type) and issubclass(value, cpython.BaseTestCase)
        ]
        for listed in NOT_APPLICABLE:
            cls_name, _, method = listed.rpartition(".")
            assert any(
                hasattr(cls, method) and cls_name in ("", cls.__name__) for cls in classes
            ), listed
