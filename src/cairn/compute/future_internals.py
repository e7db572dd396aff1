"""What compute relies on inside `concurrent.futures.Future` beyond its public methods.

Every use of a Future's private fields is here, pinned by tests/compute/test_future_internals.py:
- `_condition`, a reentrant condition guarding the state, which `Future.cancel` takes again;
- `_state`, read without the lock where a task is checked by the thousand;
- `_waiters`, the list `wait` and `as_completed` append their waiter to, under `_condition`,
  without calling any method of the future;
- `Future.cancel` marks a future cancelled without telling those waiters:
  `set_running_or_notify_cancel` does, which a pool's worker calls on taking a task.
"""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING

_SETTLED = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED})


def cancel_now(future: Future) -> bool | None:
    """`Future.cancel` for a future no worker will take from a queue, so nobody else would
    notify its waiters (`concurrent.futures.wait` and `as_completed` included): they are
    notified here. True if this call cancelled it, False if it was cancelled already, None
    if it cannot be (running or done). Its done-callbacks run in `Future.cancel`, outside
    the future's lock: one may submit, and take a pool's lock, whose holder may be waiting
    for this future's."""
    if not Future.cancel(future):
        return None
    with future._condition:
        first = future._state == CANCELLED  # not notified yet: cancelled just now
        if first:
            future.set_running_or_notify_cancel()
    return first


def settled(future: Future) -> bool:
    """`future.done()` in one look at its state, without its lock: the public `done()` took
    the lock, a tenth of a small task's trip through the pool."""
    return future._state in _SETTLED


def is_pending(future: Future) -> bool:
    """Neither running, nor cancelled, nor done: in one look, as `settled`."""
    return future._state == PENDING


class WatchedFuture(Future):
    """A Future that learns when someone waits on it without calling it: `wait` and
    `as_completed` read its waiter list (holding its condition), and `waited()` runs first."""

    def waited(self) -> None:
        """Called each time a waiter is about to be added or removed."""

    @property
    def _waiters(self) -> list:
        self.waited()
        return self._waiter_list

    @_waiters.setter
    def _waiters(self, waiters: list) -> None:
        self._waiter_list = waiters
