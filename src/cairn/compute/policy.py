"""Retries and timeouts, the same for every backend: a future that outlives its attempts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, InvalidStateError

from cairn.compute.errors import TaskTimeout
from cairn.compute.task import cancel_now


class _Attempts(Future):
    """The caller's future; each attempt is a backend future behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.attempt: Future | None = None
        self.expired = False  # timed out: the attempt being stopped no longer counts
        self.settle_lock = threading.RLock()  # a failed start settles at once

    def cancel(self) -> bool:
        attempt = self.attempt
        if attempt is not None and not attempt.cancel():
            return False
        return cancel_now(self) is not None


def with_policy(
    start: Callable[[], Future],
    name: str,
    retries: int,
    timeout: float | None,
    abort: Callable[[Future], None],
) -> Future:
    """Run `start()` until one attempt succeeds or `retries` more have failed.

    `timeout` counts from submission; when it passes, `abort` stops the attempt in flight and
    the future fails with TaskTimeout (a TimeoutError).
    """
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    if not retries and timeout is None:
        return start()
    outer = _Attempts()
    timer = None

    def launch(left: int) -> None:
        attempt = outer.attempt = start()
        attempt.add_done_callback(lambda done: settle(done, left))

    def settle(attempt: Future, left: int) -> None:
        with outer.settle_lock:
            if outer.done() or outer.expired:
                return
            if attempt.cancelled():
                cancel_now(outer)
            elif attempt.exception() is None:
                outer.set_result(attempt.result())
            elif left > 0 and not isinstance(attempt.exception(), CancelledError):
                launch(left - 1)
                return
            else:
                outer.set_exception(attempt.exception())
        if timer is not None:
            timer.cancel()

    def expire() -> None:
        with outer.settle_lock:
            if outer.done():
                return
            outer.expired = True
        # Stopped before the caller hears of the timeout: a caller that goes on at once
        # (frees what the task waits for, submits the next) must not race the stop.
        try:
            if outer.attempt is not None:
                abort(outer.attempt)
        finally:  # a backend that could not stop it still owes the caller the timeout
            # The caller may have cancelled it meanwhile (under its condition, not our lock).
            with outer.settle_lock, contextlib.suppress(InvalidStateError):
                outer.set_exception(TaskTimeout(f"task {name!r} did not finish within {timeout} s"))

    launch(retries)
    if timeout is not None and not outer.done():  # after the launch: it has an attempt to stop
        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
    return outer
