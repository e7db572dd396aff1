"""A `concurrent.futures.Future` over a Ray ObjectRef that asks Ray only when it must.

`result()` and `exception()` fetch the object in the caller's thread. Ray is asked to call
back only when someone waits another way: `add_done_callback`, `done()`, or
`concurrent.futures.wait` and `as_completed`. A callback per task costs Ray about 60 µs of
a 500 µs no-op task on two cores, and a round trip through it adds the hop from Ray's
thread back to the caller's.

Ray's answers are settled on a thread of cairn's, not on Ray's own: settling runs the
future's done-callbacks, which are user code, and one that waited on another task there
would stall every Ray call of this process.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import CancelledError, Future, InvalidStateError

import ray
import ray.exceptions

from cairn.compute.errors import WorkerLost, remote_exception
from cairn.compute.future_internals import WatchedFuture, cancel_now

_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the task's name in its tracebacks

_LOST = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.RayActorError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OutOfMemoryError,
)
_CANCELLED = (ray.exceptions.TaskCancelledError, CancelledError)


class RayFuture(WatchedFuture):
    """Stays pending while Ray runs the task, so that `cancel()` reaches Ray as it would a
    queued task of a pool (Ray interrupts the task if it has started)."""

    def __init__(self) -> None:
        super().__init__()
        self.ref: ray.ObjectRef | None = None
        self.name = ""
        self._bare = False
        self._pending: set = set()
        self._asked = False

    def watch(self, ref: ray.ObjectRef, name: str, bare: bool, pending: set) -> None:
        """Follow `ref`: the task `name` returns the bare value, or run_task's (ok, value).
        `pending` holds the executor's unsettled futures: this one leaves it when settled.
        (Attributes rather than a closure: a task's objects add to every garbage collection
        while it runs, and a closure is five of them.)"""
        self.ref, self.name, self._bare, self._pending = ref, name, bare, pending
        pending.add(self)

    def waited(self) -> None:
        # `concurrent.futures.wait` or `as_completed`, holding this future's condition: Ray's
        # answer, settled on another thread, waits for them to add their waiter.
        self._ask_ray()

    def add_done_callback(self, fn: Callable[[Future], object]) -> None:
        self._ask_ray()
        super().add_done_callback(fn)

    def done(self) -> bool:
        if super().done():
            return True
        self._ask_ray()
        return False

    def result(self, timeout: float | None = None) -> object:
        self._fetch(timeout)
        return super().result(timeout=0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._fetch(timeout)
        return super().exception(timeout=0)

    def cancel(self) -> bool:
        if not Future.done(self) and ray.wait([self.ref], timeout=0, fetch_local=False)[0]:
            self.result_if_ended()  # ended, not fetched yet: done, as a pool's would be
            return False
        # Cancelled here first: Ray's answer (TaskCancelledError) may arrive before ours.
        first = cancel_now(self)
        if first:
            cancel_ref(self.ref, force=False)
            self._pending.discard(self)
        return first is not None

    def result_if_ended(self) -> None:
        """Settle now, its task having ended (fetches the result, or takes the error).
        Whatever goes wrong is this future's, not the caller's who happened to sweep."""
        with contextlib.suppress(Exception):  # e.g. not ended after all: left pending
            self._fetch(0)

    def _fetch(self, timeout: float | None) -> None:
        if Future.done(self):
            return
        try:
            # Ray reads -1 as "no limit"; concurrent.futures reads any past deadline as now.
            answer = ray.get(self.ref, timeout=None if timeout is None else max(timeout, 0))
        except ray.exceptions.GetTimeoutError:
            # concurrent.futures' own: a class of its own before Python 3.11
            raise futures.TimeoutError(f"no result within {timeout} s") from None
        except (ray.exceptions.RayError, CancelledError) as exc:
            # RaySystemError included: a result that cannot be unpickled here, a worker that
            # could not start. (A Ray stopped under its executor: see RayExecutor._release.)
            self._settle(exc, raised=True)
        else:
            self._settle(answer, raised=False)

    def _settle(self, answer: object, raised: bool) -> None:
        """`answer` is what the task returned or, `raised`, the error Ray had instead."""
        self._pending.discard(self)
        ok, outcome = _outcome(self.name, answer, raised, self._bare)
        try:
            if ok:
                self.set_result(outcome)
            else:
                self.set_exception(outcome)
        except InvalidStateError:
            pass  # settled already: timed out, cancelled, or fetched by another thread

    def _ask_ray(self) -> None:
        if self._asked or Future.done(self):
            return
        self._asked = True
        on_completed = getattr(self.ref, "_on_completed", None)
        if on_completed is None:  # an older Ray: through `ref.future()`
            self.ref.future().add_done_callback(lambda done: _settler.put(self, *_answer_of(done)))
        else:  # Ray's hook under `ref.future()`, without a second Future
            on_completed(lambda answer: _settler.put(self, answer, _is_error(answer)))


def settle_ended(ended: list[RayFuture]) -> None:
    """Settle futures whose tasks have ended, fetching their objects in one call to Ray
    rather than one call each (a sweep meeting a thousand ended tasks made a thousand)."""
    ended = [future for future in ended if not Future.done(future)]
    try:
        answers = ray.get([future.ref for future in ended], timeout=0)
    except Exception:  # one failed, or cannot be loaded here: each future takes its own
        for future in ended:
            future.result_if_ended()
        return
    for future, answer in zip(ended, answers, strict=True):
        future._settle(answer, raised=False)


class _Settler:
    """One thread settling futures with Ray's answers, in the order they came."""

    def __init__(self) -> None:
        self._answers: queue.SimpleQueue[tuple[RayFuture, object, bool]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, future: RayFuture, answer: object, raised: bool) -> None:
        self._answers.put((future, answer, raised))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._settle_all, name="cairn-ray-settler", daemon=True
                    )
                    self._thread.start()

    def _settle_all(self) -> None:
        while True:
            future, answer, raised = self._answers.get()
            with contextlib.suppress(Exception):  # a done-callback's error is its own
                future._settle(answer, raised)


_settler = _Settler()


def cancel_ref(ref: ray.ObjectRef, force: bool) -> None:
    try:
        ray.cancel(ref, force=force)
    except (ValueError, TypeError):  # an actor's call: Ray cannot force-cancel those
        ray.cancel(ref)


def _outcome(name: str, answer: object, raised: bool, bare: bool) -> tuple[bool, object]:
    """(True, value) or (False, the exception to raise in the caller)."""
    if not raised:
        if bare:
            return True, answer
        ok, value = answer
        return (True, value) if ok else (False, remote_exception(*value))
    if isinstance(answer, ray.exceptions.RayTaskError):
        cause, text = answer.cause, _COLOUR.sub("", str(answer))
        if type(cause) is ray.exceptions.RayError:  # Ray's stand-in for an unpicklable one
            return False, remote_exception(None, text)
        if not isinstance(cause, (*_LOST, *_CANCELLED)):
            return False, remote_exception(cause, text)
        answer = cause
    if isinstance(answer, _LOST):
        return False, WorkerLost(f"task {name!r} was lost: {answer}")
    if isinstance(answer, _CANCELLED):
        return False, CancelledError(f"task {name!r} was cancelled")
    return False, answer  # e.g. an argument Ray could not pickle


def _is_error(answer: object) -> bool:
    """Whether Ray's callback brings an error rather than the task's value."""
    return isinstance(answer, ray.exceptions.RayError)


def _answer_of(done: Future) -> tuple[object, bool]:
    try:
        return done.result(), False
    except BaseException as exc:
        return exc, True
