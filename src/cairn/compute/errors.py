"""How failures of remote tasks reach the caller."""

from __future__ import annotations

from concurrent import futures

from cairn.errors import CairnError

# concurrent.futures' TimeoutError is the built-in one from Python 3.11 on; before, a task's
# timeout must be both, so that either `except` catches it.
_TIMEOUT_BASES = (
    (TimeoutError,)
    if futures.TimeoutError is TimeoutError
    else (futures.TimeoutError, TimeoutError)
)


class TaskTimeout(*_TIMEOUT_BASES):
    """A task did not finish within its `timeout=`; it was stopped."""


class WorkerLost(CairnError):
    """The process running a task died (SIGKILL, out of memory, a crash) before it answered."""


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
        return RuntimeError(f"a task failed with an exception that cannot be pickled:\n{text}")
    exc.__cause__ = RemoteTraceback(text)
    return exc
