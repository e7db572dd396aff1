"""The errors of compute, each a CairnError and the standard type a caller of
`concurrent.futures` would catch; and how failures of remote tasks reach the caller."""

from __future__ import annotations

import pickle
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool

from cairn.errors import CairnError

# concurrent.futures' TimeoutError is the built-in one from Python 3.11 on; before, a task's
# timeout must be both, so that either `except` catches it.
_TIMEOUT_BASES = (
    (TimeoutError,)
    if futures.TimeoutError is TimeoutError
    else (futures.TimeoutError, TimeoutError)
)


class TaskTimeout(CairnError, *_TIMEOUT_BASES):
    """A task did not finish within its `timeout=`; it was stopped."""


class WorkerLost(CairnError, BrokenProcessPool):
    """The process running a task died (SIGKILL, out of memory, a crash) before it answered.
    Only that task fails: the pool replaces the worker and goes on."""


class InitializerFailed(CairnError, futures.BrokenExecutor):
    """A worker's `initializer` raised: the executor runs nothing more, as the standard
    pools do (BrokenProcessPool, BrokenThreadPool)."""


class InvalidTaskOptions(CairnError, ValueError):
    """An option an executor cannot honour: retries, timeout, resources, chunksize, workers,
    a task larger than the pool, an unknown executor URL."""


class ExecutorShutDown(CairnError, RuntimeError):
    """Work submitted after `shutdown()` (or after the interpreter began to exit)."""


class NotPicklable(CairnError, pickle.PicklingError, TypeError):
    """A task's callable, arguments or result cannot be pickled to cross to or from a worker
    (a TypeError too: what pickling a lock or a generator raises)."""


class TaskFailed(CairnError, RuntimeError):
    """A task raised an exception that could not travel back; its traceback is the message."""


class ActorConstructorFailed(CairnError, RuntimeError):
    """A method was called on an actor whose constructor raised."""


class NotAnActorMethod(CairnError, AttributeError):
    """An actor handle was asked for something that is not a method of the actor's class."""


class BackendUnavailable(CairnError, ImportError):
    """An executor whose backend is not installed (`pip install 'cairn[ray]'`)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as its `__cause__`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def remote_exception(exc: BaseException | None, text: str) -> BaseException:
    """The exception a worker raised, carrying its remote traceback as the cause.

    When the exception itself could not be pickled, the traceback text is all there is.
    """
    if exc is None:
        return TaskFailed(f"a task failed with an exception that cannot be pickled:\n{text}")
    exc.__cause__ = RemoteTraceback(text)
    return exc
