"""An executor over a Pool of workers (processes or threads); each actor is a pool of one."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import Future

from cairn.compute.errors import InvalidTaskOptions
from cairn.compute.executor import Executor
from cairn.compute.pool import Pool, PoolFuture, Worker
from cairn.compute.task import Task


class PoolExecutor(Executor):
    _kills_running_tasks = True  # a timed-out task's worker is ended (not a thread's)
    _future_type = PoolFuture

    def __init__(
        self, url: str, workers: int | None, start_worker: Callable[[Pool], Worker]
    ) -> None:
        self.url = url
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if self.workers < 1:
            raise InvalidTaskOptions(f"workers must be at least 1, not {self.workers}")
        self._start_worker = start_worker
        self._pool = Pool(start_worker, self.workers)
        self._actors: list[Pool] = []
        super().__init__()

    @property
    def _broken(self) -> str | None:
        """The traceback of a worker's initializer that failed: then nothing more runs. Named
        as the standard pools name theirs: code written for them (CPython's own tests
        among it) waits on `executor._broken`."""
        return self._pool.broken

    def _admit(self) -> None:
        super()._admit()
        if self._pool.broken is not None:
            raise self._pool.broken_error("new work")

    def _check_fits(self, name: str, cpus: float, gpus: float) -> None:
        self._pool.check_fits(name, cpus, gpus)

    def _prepare(self, task: Task) -> None:
        """Get `task` ready to travel to a worker; raise if it cannot."""

    def _start(self, task: Task) -> Future:
        return self._start_on(self._pool, task)

    def _start_on(self, pool: Pool, task: Task) -> Future:
        try:
            self._prepare(task)
        except Exception as exc:
            task.future.set_exception(exc)
            return task.future
        pool.submit(task)
        return task.future

    def _abort(self, future: Future) -> None:
        self._pool.abort(future, kill=self._kills_running_tasks)

    def _new_actor(self, task: Task) -> Callable[[Task], Future]:
        task.cpus = 0  # an actor has its own worker, outside the pool's CPUs
        pool = Pool(self._start_worker, 1, replace=False, gpus=self._pool.gpus)
        self._actors.append(pool)
        self._start_on(pool, task)
        return functools.partial(self._start_on, pool)

    def _shutdown(self, wait: bool, cancel_futures: bool) -> None:
        for pool in (self._pool, *self._actors):
            pool.shutdown(wait, cancel_futures)

    def _terminate(self) -> None:
        for pool in (self._pool, *self._actors):
            pool.terminate()

    def __del__(self) -> None:
        # Nobody holds it: what it was given still runs, then its workers stop, as a
        # ThreadPoolExecutor's threads do once it is collected.
        if not self._closed:  # (at exit, shut down already)
            self.shutdown(wait=False)
