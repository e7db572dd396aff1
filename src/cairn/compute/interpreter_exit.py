"""Executors still open when the interpreter exits, or when the process forks.

At exit their work is finished first, as the standard executors' is: a script may submit
and end without `with` or `shutdown()`. The hook runs where theirs does, in
`threading._register_atexit` (before the interpreter joins its threads and before `atexit`
handlers), the one private name of the standard library this relies on, pinned by
tests/compute/test_interpreter_exit.py. After Ctrl-C (the interpreter ends on an unhandled
KeyboardInterrupt) the work is stopped instead: a caller interrupted must not hang on tasks
that wait for ever. Whatever is still open once `atexit` runs is terminated.

A child forked from a process with executors inherits their objects but not their workers'
threads, and the sockets it inherits are the parent's workers': it must neither send to
them nor stop them. Its copies of the parent's executors refuse work and do nothing at shutdown.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.compute.executor import Executor

AFTER_EXIT = "cannot schedule new futures after interpreter shutdown"
AFTER_FORK = "cannot schedule new futures on an executor of the parent process after a fork"

_live: weakref.WeakSet[Executor] = weakref.WeakSet()
_exiting = False


def track(executor: Executor) -> None:
    """Follow `executor` until it shuts down; one made while the interpreter exits takes no
    work (its workers are terminated with the others that are left)."""
    if _exiting:
        executor._refuse(AFTER_EXIT)
    _live.add(executor)


def forget(executor: Executor) -> None:
    _live.discard(executor)


def _finish_live() -> None:
    global _exiting
    _exiting = True
    interrupted = isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
    for executor in list(_live):
        if interrupted:
            executor.terminate()
        else:
            executor.shutdown(wait=True)


@atexit.register
def _terminate_live() -> None:
    # Left open: a second Ctrl-C broke the wait above, or one made during exit.
    for executor in list(_live):
        executor.terminate()


def _disown_after_fork() -> None:
    for executor in list(_live):
        executor._disown(AFTER_FORK)
    _live.clear()


threading._register_atexit(_finish_live)
os.register_at_fork(after_in_child=_disown_after_fork)
