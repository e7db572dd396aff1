"""Retries, timeouts and futures passed as arguments, the same for every backend: a future
that outlives its attempts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, InvalidStateError

from cairn.compute.errors import TaskTimeout
from cairn.compute.future_internals import cancel_now


class Attempts(Future):
    """The caller's future; each attempt is a backend future behind it."""

    def __init__(self, start: Callable[[], Future]) -> None:
        super().__init__()
        self.start: Callable[[], Future] | None = start  # holds the task's function and arguments
        self.attempt: Future | None = None
        self.expired = False  # timed out: the attempt being stopped no longer counts
        self.timer: threading.Timer | None = None
        self.settle_lock = threading.RLock()  # a failed start settles at once

    def cancel(self) -> bool:
        attempt = self.attempt
        if attempt is not None and not attempt.cancel():
            return False
        return cancel_now(self) is not None

    def settled(self) -> None:
        """No attempt will start again: the task's arguments can go, and its timer."""
        self.start = None
        if self.timer is not None:
            self.timer.cancel()


def with_policy(
    start: Callable[[], Future],
    name: str,
    retries: int,
    timeout: float | None,
    abort: Callable[[Future], None],
    after: list[Future],
) -> Future:
    """Run `start()` once the futures `after` are done, until one attempt succeeds or
    `retries` more have failed.

    If one of `after` failed, the task never starts and its future fails likewise.
    `timeout` counts from submission; when it passes, `abort` stops the attempt in flight
    and the future fails with TaskTimeout (a TimeoutError).
    """
    if not retries and timeout is None and not after:
        return start()
    outer = Attempts(start)

    def launch(left: int) -> None:
        start = outer.start
        if start is None:  # settled meanwhile: timed out, cancelled
            return
        try:
            attempt = outer.attempt = start()
        except BaseException as exc:  # on a callback's thread, nobody else would hear of it
            with contextlib.suppress(InvalidStateError):
                outer.set_exception(exc)
            return
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

    def resolved(_: Future) -> None:
        if not all(future.done() for future in after):
            return
        with outer.settle_lock:
            if outer.done() or outer.expired or outer.attempt is not None:
                return  # settled meanwhile, or another callback saw them all done first
            for future in after:
                if future.cancelled():
                    cancel_now(outer)
                    return
                if future.exception() is not None:
                    outer.set_exception(future.exception())
                    return
            launch(retries)

    if timeout is not None:  # from submission, waiting for `after` included
        outer.timer = threading.Timer(timeout, expire)
        outer.timer.daemon = True
    if not after:
        launch(retries)
    # Started after the launch (it has an attempt to stop), and only if still needed.
    if outer.timer is not None and not outer.done():
        outer.timer.start()
    outer.add_done_callback(lambda done: done.settled())
    for future in after:
        future.add_done_callback(resolved)
    return outer
