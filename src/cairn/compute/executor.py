"""The interface every backend offers: `concurrent.futures.Executor`, plus actors, retries,
timeouts and resources.

A backend implements four things: starting a task, stopping a task already running,
creating an actor, and shutting down. Everything else (map and its chunks, retries,
timeouts, the context manager, Ctrl-C) is here once.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent import futures
from concurrent.futures import Future
from types import TracebackType

from cairn.compute._worker import ACTOR_CALL, CALL, CHUNK, NEW_ACTOR
from cairn.compute.errors import remote_exception
from cairn.compute.policy import with_policy
from cairn.compute.task import Task, cancel_now, parse_resources, task_name
from cairn.compute.tracking import capture

CHUNKS_PER_WORKER = 4  # enough chunks to even out uneven items, few enough to stay cheap
MAX_CHUNK = 10_000

_live: weakref.WeakSet[Executor] = weakref.WeakSet()


class Executor(ABC):
    """Runs Python callables elsewhere and hands back `concurrent.futures.Future`s."""

    url: str
    workers: int  # how many tasks run at once; map sizes its chunks from it
    _future_type: type[Future] = Future

    def __init__(self) -> None:
        self._closed = False  # no new work
        self._stopped = False  # no more attempts either: the backend is being stopped
        # Held from admitting work to its first start, so that a shutdown comes before or
        # after, never between (reentrant: a start that fails at once runs callbacks).
        self._close_lock = threading.RLock()
        self._guarded: set[Future] = set()  # futures with retries or a timeout, not yet done
        _live.add(self)

    def submit(
        self,
        fn: Callable,
        /,
        *args: object,
        retries: int = 0,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
        **kwargs: object,
    ) -> Future:
        """Run `fn(*args, **kwargs)`. `retries`, `timeout` and `resources` are cairn's, not
        passed on: wrap `fn` in `functools.partial` if it takes arguments of those names."""
        cpus, gpus = parse_resources(resources)
        name, context = task_name(fn), self._context()

        def start() -> Future:
            if self._stopped:  # a retry after `shutdown(wait=False)` or `terminate()`
                return _cancelled()
            return self._start(self._task(CALL, (fn, args, kwargs), name, context, cpus, gpus))

        with self._close_lock:
            self._admit()
            future = with_policy(start, name, retries, timeout, self._abort)
        if retries or timeout is not None:
            # Its next attempt may start after `shutdown` took stock: shutdown waits for it.
            self._guarded.add(future)
            future.add_done_callback(self._guarded.discard)
        return future

    def map(
        self,
        fn: Callable,
        *iterables: Iterable,
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator:
        """Results of `fn` over the items, in order; an item's exception is raised when
        reached. Items travel in chunks, so tiny tasks cost microseconds each."""
        chunks = self.map_chunks(fn, list(zip(*iterables, strict=False)), chunksize)
        deadline = None if timeout is None else time.monotonic() + timeout  # from the call

        def results() -> Iterator:
            try:
                for chunk in chunks:
                    left = None if deadline is None else deadline - time.monotonic()
                    for ok, value in chunk.result(left):
                        if not ok:
                            raise remote_exception(*value)
                        yield value
            finally:
                for chunk in chunks:
                    chunk.cancel()

        return results()

    def map_chunks(
        self, fn: Callable, items: list[tuple], chunksize: int | None = None
    ) -> list[Future]:
        """One future per chunk of `items`, each resolving to a list of (ok, value)."""
        if chunksize is None:
            chunksize = math.ceil(len(items) / (CHUNKS_PER_WORKER * max(1, self.workers)))
            chunksize = max(1, min(MAX_CHUNK, chunksize))
        name = task_name(fn)
        with self._close_lock:
            self._admit()
            # A context per chunk: on threads it is a `contextvars.Context`, which two threads
            # cannot run in at once.
            return [
                self._start(
                    self._task(CHUNK, (fn, items[i : i + chunksize]), name, self._context())
                )
                for i in range(0, len(items), chunksize)
            ]

    def actor(
        self,
        cls: type,
        /,
        *args: object,
        resources: Mapping[str, float] | None = None,
        **kwargs: object,
    ) -> ActorHandle:
        """An instance of `cls` living in one dedicated worker; its methods return futures."""
        cpus, gpus = parse_resources(resources)
        name = task_name(cls)
        task = self._task(NEW_ACTOR, (cls, args, kwargs), name, self._context(), cpus, gpus)
        with self._close_lock:
            self._admit()
            start = self._new_actor(task)
        return ActorHandle(self, start, name)

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
        _live.discard(self)

    def terminate(self) -> None:
        """Cancel everything and stop every worker now, running tasks included."""
        with self._close_lock:
            if self._stopped:
                return
            self._closed = self._stopped = True
        self._terminate()
        _live.discard(self)

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, Exception):  # Ctrl-C, SystemExit
            self.terminate()
        else:
            self.shutdown(wait=True)

    def _admit(self) -> None:
        """Called in the caller's thread before it adds work: refused after shutdown."""
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")

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


class ActorHandle:
    """`handle.method(*args)` runs `method` on the remote instance and returns a Future."""

    def __init__(self, executor: Executor, call: Callable[[Task], Future], name: str) -> None:
        self._executor = executor
        self._call = call
        self._name = name

    def __getattr__(self, method: str) -> Callable[..., Future]:
        if method.startswith("__"):
            raise AttributeError(method)

        def call(*args: object, **kwargs: object) -> Future:
            executor = self._executor
            name = f"{self._name}.{method}"
            task = executor._task(ACTOR_CALL, (method, args, kwargs), name, executor._context(), 0)
            with executor._close_lock:
                executor._admit()
                return self._call(task)

        return call

    def __repr__(self) -> str:
        return f"<actor {self._name} on {self._executor.url}>"


def _cancelled() -> Future:
    future: Future = Future()
    cancel_now(future)
    return future


@atexit.register
def _terminate_live() -> None:
    # An executor left open (Ctrl-C outside a `with`) must not leave workers behind.
    for executor in list(_live):
        executor.terminate()
