"""A pool of workers fed from one queue: batching, resources, and workers that die.

A worker (a process or a thread) runs one batch of tasks at a time and answers with all
their outcomes. When the queue is long, several tasks go in one batch, so a tiny task costs
a few microseconds of the pipe instead of a round trip. A task needing N CPUs holds N idle
workers (it runs in one, the others wait), so the pool never runs more than it has CPUs.

When a worker dies, the task it was running (its id is in the worker's slot) fails with
WorkerLost; the tasks of its batch that had not run yet, or whose results died with it, go
back to the front of the queue, and a new worker takes the dead one's place.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures._base import CANCELLED, PENDING, RUNNING
from typing import Protocol

from cairn.compute import wire
from cairn.compute.errors import WorkerLost, remote_exception
from cairn.compute.task import Task, cancel_now, check_fits

MAX_BATCH = 64


class Worker(Protocol):
    def send(self, batch: list[Task]) -> None: ...
    def running_task_id(self) -> int: ...
    def kill(self) -> None: ...
    def stop(self) -> None: ...


Result = tuple[int, bool, object]  # task id, ok, value or (exception, traceback text)


class Pool:
    def __init__(
        self,
        start_worker: Callable[[Pool], Worker],
        size: int,
        *,
        replace: bool = True,
        gpus: float = 0.0,
    ) -> None:
        self._start_worker = start_worker
        self.size = size
        self.gpus = gpus
        self._replace = replace
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending: deque[Task] = deque()
        self._inflight: dict[Worker, list[Task]] = {}
        self._held: dict[Worker, list[Worker]] = {}  # extra workers kept idle for a task
        self._dead: str | None = None  # why this pool can run nothing more
        workers = [start_worker(self) for _ in range(size)]
        self._workers = set(workers)
        self._idle: deque[Worker] = deque(workers)

    def check_fits(self, task: Task) -> None:
        check_fits(task, self.size, self.gpus, "this pool (a CPU per worker)")

    def submit(self, task: Task) -> None:
        """Queue `task`, which `check_fits` has let through."""
        with self._lock:
            dead = self._dead
            if dead is None:
                self._pending.append(task)
                sends = self._assign()
        if dead is not None:
            self._settle(task, False, WorkerLost(f"task {task.name!r} not run: {dead}"))
            return
        self._send(sends)

    def on_results(self, worker: Worker, results: list[Result]) -> None:
        # Settled first: done-callbacks run here (on a thread worker, in that worker), and
        # one that submits and waits must not find its task handed to this worker.
        with self._lock:
            batch = {task.id: task for task in self._inflight.get(worker, [])}
        for task_id, ok, value in results:
            task = batch.get(task_id)
            if task is not None:
                self._settle(task, ok, value if ok else remote_exception(*value))
        with self._lock:
            self._inflight.pop(worker, None)
            self._release(worker)
            self._idle.append(worker)
            sends = self._assign()
            self._drained.notify_all()
        self._send(sends)

    def on_lost(self, worker: Worker, how: str) -> None:
        """`worker` died; `how` says how (exit code, signal)."""
        with self._lock:
            self._workers.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._release(worker)
            batch = self._inflight.pop(worker, [])
            running = worker.running_task_id()
            lost = [task for task in batch if task.id == running]
            self._pending.extendleft(reversed([task for task in batch if task.id != running]))
            replace = self._replace and self._dead is None
            if not replace and not self._workers:
                self._dead = f"its worker died ({how})"
                lost += self._pending
                self._pending.clear()
        for task in lost:
            self._settle(
                task, False, WorkerLost(f"task {task.name!r} was lost: its worker process {how}")
            )
        if replace:
            self.add_worker(self._start_worker(self))
        with self._lock:
            self._drained.notify_all()

    def add_worker(self, worker: Worker) -> None:
        with self._lock:
            self._workers.add(worker)
            self._idle.append(worker)
            sends = self._assign()
        self._send(sends)

    def abort(self, task_future: object, kill: bool) -> None:
        """Stop the task behind `task_future`, which has timed out. Still queued, it is
        dropped; running, its worker is killed if `kill` (the rest of its batch is
        re-queued); sent but waiting behind another task of its batch, it is settled and
        left to run unseen, since killing the worker would take the innocent task with it."""
        with self._lock:
            queued = [task for task in self._pending if task.future is task_future]
            for task in queued:
                self._pending.remove(task)
            held = [
                (worker, task)
                for worker, batch in self._inflight.items()
                for task in batch
                if task.future is task_future
            ]
        for task in queued:
            self._cancel(task)
        for worker, task in held:
            if worker.running_task_id() == task.id:
                if kill:
                    worker.kill()
            else:
                self._settle(task, False, CancelledError(f"task {task.name!r} timed out"))

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        """Run what is queued to its end (unless `cancel_futures`), then stop the workers.
        Without `wait` that happens on a thread of its own; not a daemon, so the interpreter
        waits for it at exit, as for the pools of `concurrent.futures`."""
        with self._lock:
            cancelled = list(self._pending) if cancel_futures else []
            if cancel_futures:
                self._pending.clear()
        for task in cancelled:
            self._cancel(task)
        if wait:
            self._drain_and_stop()
        else:
            threading.Thread(target=self._drain_and_stop, name="cairn-pool-drain").start()

    def _drain_and_stop(self) -> None:
        with self._lock:
            while (self._pending or self._inflight) and self._dead is None:
                self._drained.wait()
            self._dead = self._dead or "the executor was shut down"
            workers = list(self._workers)
        for worker in workers:
            worker.stop()

    def terminate(self) -> None:
        with self._lock:
            self._dead = "the executor was terminated"
            pending, self._pending = list(self._pending), deque()
            running = [task for batch in self._inflight.values() for task in batch]
            workers = list(self._workers)
            self._drained.notify_all()  # a drain under way stops waiting
        for task in running:  # before the kills, so that they do not read as lost workers
            self._settle(task, False, CancelledError(f"task {task.name!r}: executor terminated"))
        for task in pending:
            self._cancel(task)
        for worker in workers:
            worker.kill()

    def _assign(self) -> list[tuple[Worker, list[Task]]]:
        """Hand queued tasks to idle workers (lock held); the caller sends them."""
        sends = []
        while self._pending and self._idle:
            head = self._pending[0]
            need = max(1, math.ceil(head.cpus))
            if need > len(self._idle):
                break  # wait for workers to free up rather than let smaller tasks jump ahead
            size = 1 if need > 1 else max(1, min(MAX_BATCH, len(self._pending) // self.size))
            batch = []
            while self._pending and len(batch) < size and (not batch or self._pending[0].cpus <= 1):
                task = self._pending.popleft()
                if _claim(task.future):
                    batch.append(task)
                else:
                    wire.unlink(task.segments)  # cancelled or settled while queued
            if not batch:
                continue
            worker = self._idle.pop()  # the last to finish: still warm, not yet parked
            self._held[worker] = [self._idle.popleft() for _ in range(need - 1)]
            self._inflight[worker] = batch
            sends.append((worker, batch))
        return sends

    def _release(self, worker: Worker) -> None:
        self._idle.extend(w for w in self._held.pop(worker, []) if w in self._workers)

    def _send(self, sends: list[tuple[Worker, list[Task]]]) -> None:
        for worker, batch in sends:
            # If it died, its reader reports the loss and the batch is re-queued.
            with contextlib.suppress(OSError):
                worker.send(batch)

    def _cancel(self, task: Task) -> None:
        if cancel_now(task.future) is None:  # already marked running: re-queued after a loss
            self._settle(task, False, CancelledError(f"task {task.name!r} was cancelled"))
        wire.unlink(task.segments)

    @staticmethod
    def _settle(task: Task, ok: bool, value: object) -> None:
        wire.unlink(task.segments)
        try:
            if ok:
                task.future.set_result(value)
            else:
                task.future.set_exception(value)
        except InvalidStateError:
            pass  # cancelled, or settled by terminate(), meanwhile


def _claim(future: Future) -> bool:
    """Whether a task taken from the queue is to run, marking its future running."""
    # One look at the state: the public `running()`, `cancelled()`, `done()` took the
    # future's lock once each, a tenth of a small task's trip through the pool.
    state = future._state
    if state == PENDING:  # cancelled meanwhile: this says so (False) and tells the waiters
        return future.set_running_or_notify_cancel()
    if state == RUNNING:  # re-queued after its worker was lost
        return True
    if state == CANCELLED:
        cancel_now(future)  # a plain `cancel()` has not told `wait`'s waiters yet
    return False  # or settled while queued: timed out
