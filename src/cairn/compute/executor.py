"""The interface every backend offers: a `concurrent.futures.Executor`, plus actors, and task
options (retries, timeouts, resources) through `options()`.

A backend implements five things: checking that a task fits, starting a task, stopping a
task already running, creating an actor, and shutting down. Everything else (map and its
chunks, retries, timeouts, futures passed as arguments, the context manager, Ctrl-C) is
here once.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import Future
from types import TracebackType

from cairn.compute import interpreter_exit
from cairn.compute._worker import CALL, CHUNK, NEW_ACTOR
from cairn.compute.actor_handle import ActorHandle
from cairn.compute.errors import ExecutorShutDown, InvalidTaskOptions, remote_exception
from cairn.compute.future_internals import cancel_now
from cairn.compute.options import DEFAULT, TaskMethods, TaskOptions
from cairn.compute.policy import Attempts, with_policy
from cairn.compute.run_context import capture
from cairn.compute.task import Task, task_name

CHUNKS_PER_WORKER = 4  # enough chunks to even out uneven items, few enough to stay cheap
MAX_CHUNK = 10_000
AFTER_SHUTDOWN = "cannot schedule new futures after shutdown"


class Executor(TaskMethods, futures.Executor, ABC):
    """Runs Python callables elsewhere and hands back `concurrent.futures.Future`s.

    `submit(fn, *args, **kwargs)` passes every keyword to `fn`; options of cairn's own go
    through `options(retries=, timeout=, resources=)`, as with Ray's `.options()`.
    """

    url: str
    workers: int  # how many tasks run at once; map sizes its chunks from it
    _future_type: type[Future] = Future
    # Until __init__ has run to its end, an executor reads as shut down (see __del__).
    _closed = True
    _stopped = True

    def __init__(self) -> None:
        self._closed = False  # no new work
        self._stopped = False  # no more attempts either: the backend is being stopped
        self._refusal = AFTER_SHUTDOWN  # why work is refused once closed
        # Held from admitting work to its first start, so that a shutdown comes before or
        # after, never between (reentrant: a start that fails at once runs callbacks).
        self._close_lock = threading.RLock()
        # Futures whose attempts may start later (retries, timeouts, futures as arguments),
        # not yet done: shutdown waits for them.
        self._guarded: set[Future] = set()
        interpreter_exit.track(self)

    def target(self) -> tuple[Executor, TaskOptions]:
        return self, DEFAULT

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; with `wait`, return once the submitted ones have finished.
        Without, they still run to their end (but with a Ray that stops with this executor).
        A second call does nothing."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        guarded = list(self._guarded)
        if cancel_futures:
            for future in guarded:
                future.cancel()
        if wait:
            futures.wait(guarded)
        with self._close_lock:
            if self._stopped:  # terminated meanwhile
                return
            self._stopped = True
        self._shutdown(wait, cancel_futures)
        interpreter_exit.forget(self)

    def terminate(self) -> None:
        """Cancel everything and stop every worker now, running tasks included."""
        with self._close_lock:
            if self._stopped:
                return
            self._closed = self._stopped = True
        self._terminate()
        interpreter_exit.forget(self)

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, Exception):  # Ctrl-C, SystemExit
            self.terminate()
        else:
            self.shutdown(wait=True)

    def _submit(self, fn: Callable, args: tuple, kwargs: dict, options: TaskOptions) -> Future:
        name, context = task_name(fn), self._context()
        self._check_fits(name, options.cpus, options.gpus)
        after = _futures_among(args, kwargs)

        def start() -> Future:
            if self._stopped:  # a retry after `shutdown(wait=False)` or `terminate()`
                return _cancelled()
            call = (fn, args, kwargs) if not after else _with_results(fn, args, kwargs)
            return self._start(self._task(CALL, call, name, context, options.cpus, options.gpus))

        with self._close_lock:
            self._admit()
            future = with_policy(start, name, options.retries, options.timeout, self._abort, after)
        if isinstance(future, Attempts):
            # Its next attempt may start after `shutdown` took stock: shutdown waits for it.
            self._guarded.add(future)
            future.add_done_callback(self._guarded.discard)
        return future

    def _map(
        self,
        fn: Callable,
        iterables: tuple[Iterable, ...],
        timeout: float | None,
        chunksize: int | None,
        options: TaskOptions,
    ) -> Iterator:
        chunks = self._map_chunks(fn, list(zip(*iterables, strict=False)), chunksize, options)
        deadline = None if timeout is None else time.monotonic() + timeout  # from the call
        return _results(chunks, deadline)

    def _map_chunks(
        self, fn: Callable, items: list[tuple], chunksize: int | None, options: TaskOptions
    ) -> list[Future]:
        if options.timeout is not None:
            raise InvalidTaskOptions(
                "map takes no timeout per task: pass map(..., timeout=) for a deadline on the "
                "whole map, or submit the items one by one"
            )
        if chunksize is None:
            chunksize = math.ceil(len(items) / (CHUNKS_PER_WORKER * max(1, self.workers)))
            chunksize = max(1, min(MAX_CHUNK, chunksize))
        elif chunksize < 1:
            raise InvalidTaskOptions(f"chunksize must be at least 1, not {chunksize}")
        name = task_name(fn)
        self._check_fits(name, options.cpus, options.gpus)
        with self._close_lock:
            self._admit()
            # A context per chunk: on threads it is a `contextvars.Context`, which two threads
            # cannot run in at once.
            return [
                self._start(
                    self._task(
                        CHUNK,
                        (fn, items[i : i + chunksize], options.retries),
                        name,
                        self._context(),
                        options.cpus,
                        options.gpus,
                    )
                )
                for i in range(0, len(items), chunksize)
            ]

    def _actor(self, cls: type, args: tuple, kwargs: dict, options: TaskOptions) -> ActorHandle:
        if options.retries or options.timeout is not None:
            raise InvalidTaskOptions("an actor takes resources only, not retries or a timeout")
        name = task_name(cls)
        self._check_fits(name, options.cpus, options.gpus)
        task = self._task(
            NEW_ACTOR, (cls, args, kwargs), name, self._context(), options.cpus, options.gpus
        )
        with self._close_lock:
            self._admit()
            call = self._new_actor(task)
        return ActorHandle(self, call, cls)

    def _admit(self) -> None:
        """Called in the caller's thread before it adds work: refused after shutdown."""
        if self._closed:
            raise ExecutorShutDown(self._refusal)

    def _refuse(self, why: str) -> None:
        """Take no work from now on, saying `why`: made while the interpreter exits."""
        self._closed = True
        self._refusal = why

    def _disown(self, why: str) -> None:
        """This process is a forked child: the workers are its parent's, never to be touched."""
        self._refuse(why)
        self._stopped = True

    def _task(
        self,
        kind: int,
        payload: tuple,
        name: str,
        context: object,
        cpus: float = 1.0,
        gpus: float = 0.0,
    ) -> Task:
        return Task(kind, payload, name, context, cpus, gpus, self._future_type())

    def _context(self) -> object:
        """What a task needs to log into the caller's active run (None: no run is active)."""
        return capture()

    @abstractmethod
    def _check_fits(self, name: str, cpus: float, gpus: float) -> None:
        """Refuse a task needing more than this executor can ever give it."""

    @abstractmethod
    def _start(self, task: Task) -> Future: ...

    @abstractmethod
    def _abort(self, future: Future) -> None:
        """Stop the task behind `future`, which has timed out, even if it is running."""

    @abstractmethod
    def _new_actor(self, task: Task) -> Callable[[Task], Future]:
        """Create the actor that `task` constructs; return how to send it method calls."""

    @abstractmethod
    def _shutdown(self, wait: bool, cancel_futures: bool) -> None: ...

    @abstractmethod
    def _terminate(self) -> None: ...


def _futures_among(args: tuple, kwargs: dict) -> list[Future]:
    # A loop rather than a comprehension: this runs for every task, most of which have none.
    found = []
    for value in args:
        if isinstance(value, Future):
            found.append(value)
    if kwargs:
        for value in kwargs.values():
            if isinstance(value, Future):
                found.append(value)
    return found


def _with_results(fn: Callable, args: tuple, kwargs: dict) -> tuple:
    """The call with each Future among its arguments replaced by its result (all are done)."""
    return (
        fn,
        tuple(arg.result() if isinstance(arg, Future) else arg for arg in args),
        {key: arg.result() if isinstance(arg, Future) else arg for key, arg in kwargs.items()},
    )


def _results(chunks: list[Future], deadline: float | None) -> Iterator:
    """The values of map's chunks in order, each let go of once yielded: neither the
    chunk's future nor this generator keeps a value the caller has moved past."""
    chunks.reverse()
    try:
        while chunks:
            left = None if deadline is None else deadline - time.monotonic()
            outcomes = chunks[-1].result(left)
            chunks.pop()
            outcomes.reverse()
            while outcomes:
                if not outcomes[-1][0]:
                    raise remote_exception(*outcomes.pop()[1])
                yield outcomes.pop()[1]
    finally:
        for chunk in chunks:
            chunk.cancel()


def _cancelled() -> Future:
    future: Future = Future()
    cancel_now(future)
    return future
