"""The `thread` backend: the same pool, with threads of this process as its workers.

For I/O-bound work and code that releases the GIL. Tasks see the caller's context, so a
task submitted inside a run logs into that run directly. A thread cannot be killed: a task
that times out fails its future, but the thread finishes it in the background.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
from collections.abc import Callable, Collection

from cairn.compute._worker import failure, initializer_failed, run_task
from cairn.compute.pool import Pool
from cairn.compute.pool_executor import PoolExecutor
from cairn.compute.task import Task


class ThreadWorker:
    def __init__(self, pool: Pool, initializer: Callable | None, initargs: tuple) -> None:
        self._pool = pool
        self._batches: queue.SimpleQueue[list[Task] | None] = queue.SimpleQueue()
        self._state: dict = {}
        self._claim = threading.Lock()  # taken to start a task, or to withdraw one
        self._running = 0
        self._withdrawn: set[int] = set()
        self._thread = threading.Thread(
            target=self._loop, args=(initializer, initargs), name="cairn-thread-worker", daemon=True
        )
        self._thread.start()

    def prepare(self) -> None:
        self._withdrawn.clear()

    def send(self, batch: list[Task]) -> None:
        self._batches.put(batch)

    def withdraw(self, task_id: int, from_here: Collection[int]) -> bool:
        with self._claim:
            if self._running in from_here:
                return False
            self._withdrawn.add(task_id)
            return True

    def running_task_id(self) -> int:
        return self._running

    def kill(self) -> None:
        """A thread cannot be killed: it ends after the batch in hand."""
        self._batches.put(None)

    def stop(self) -> None:
        self._batches.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self, initializer: Callable | None, initargs: tuple) -> None:
        if initializer is not None:
            try:
                initializer(*initargs)
            except BaseException as exc:  # the pool breaks, as a ThreadPoolExecutor does
                self._pool.on_broken(self, initializer_failed(exc))
                return
        while (batch := self._batches.get()) is not None:
            results = self._run(batch)
            del batch  # its tasks' arguments: not kept while the next batch is awaited
            self._pool.on_results(self, results)
            del results

    def _run(self, batch: list[Task]) -> list[tuple]:
        results = []
        for index, task in enumerate(batch):
            if index == 0:  # never withdrawn: its worker was idle, it counts as started
                self._running = task.id
            else:
                with self._claim:
                    if task.id in self._withdrawn:
                        continue
                    self._running = task.id
            try:
                outcome = run_task(task.kind, task.payload, task.context, self._state)
            except BaseException as exc:  # KeyboardInterrupt raised by a task, as in the pool
                outcome = False, failure(exc)
            results.append((task.id, *outcome))
        return results


class ThreadExecutor(PoolExecutor):
    _kills_running_tasks = False  # a timed-out task's thread runs it to the end, unobserved

    def __init__(
        self,
        url: str = "thread",
        workers: int | None = None,
        initializer: Callable | None = None,
        initargs: tuple = (),
    ) -> None:
        worker = functools.partial(ThreadWorker, initializer=initializer, initargs=tuple(initargs))
        super().__init__(url, workers, worker)

    def _context(self) -> contextvars.Context:
        return contextvars.copy_context()


def create(
    url: str, workers: int | None, initializer: Callable | None = None, initargs: tuple = ()
) -> ThreadExecutor:
    return ThreadExecutor(url, workers, initializer, initargs)
