"""The `thread` backend: the same pool, with threads of this process as its workers.

For I/O-bound work and code that releases the GIL. Tasks see the caller's context, so a
task submitted inside a run logs into that run directly. A thread cannot be killed: a task
that times out fails its future, but the thread finishes it in the background.
"""

from __future__ import annotations

import contextvars
import queue
import threading

from cairn.compute._worker import failure, run_task
from cairn.compute.pool import Pool
from cairn.compute.pooled import PoolExecutor
from cairn.compute.task import Task


class ThreadWorker:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._batches: queue.SimpleQueue[list[Task] | None] = queue.SimpleQueue()
        self._state: dict = {}
        self._running = 0
        self._thread = threading.Thread(target=self._loop, name="cairn-thread-worker", daemon=True)
        self._thread.start()

    def send(self, batch: list[Task]) -> None:
        self._batches.put(batch)

    def running_task_id(self) -> int:
        return self._running

    def kill(self) -> None:
        """A thread cannot be killed: it ends after the batch in hand."""
        self._batches.put(None)

    def stop(self) -> None:
        self._batches.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while (batch := self._batches.get()) is not None:
            results = []
            for task in batch:
                self._running = task.id
                try:
                    outcome = run_task(task.kind, task.payload, task.context, self._state)
                except BaseException as exc:  # SystemExit would end this thread unheard
                    outcome = False, failure(exc)
                results.append((task.id, *outcome))
            self._pool.on_results(self, results)


class ThreadExecutor(PoolExecutor):
    _kills_running_tasks = False  # a timed-out task's thread runs it to the end, unobserved

    def __init__(self, url: str = "thread", workers: int | None = None) -> None:
        super().__init__(url, workers, ThreadWorker)

    def _context(self) -> contextvars.Context:
        return contextvars.copy_context()


def create(url: str, workers: int | None) -> ThreadExecutor:
    return ThreadExecutor(url, workers)
