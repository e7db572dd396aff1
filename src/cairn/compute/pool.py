"""A pool of workers fed from one queue: batching, resources, cancellation, workers that die.

A worker (a process or a thread) runs one batch of tasks at a time and answers with all
their outcomes. When the queue is long, several tasks go in one batch, so a tiny task costs
a few microseconds of the pipe instead of a round trip. A task needing N CPUs holds N idle
workers (it runs in one, the others wait), so the pool never runs more than it has CPUs.

A task is running only once its worker starts it: the first of a batch at once (its worker
is idle), each other one when the worker reaches it. Until then `cancel()` withdraws it: the
worker, asked under a lock it takes itself before starting each of those tasks, skips it.

When a worker dies, the task it was running (its id is in the worker's slot) fails with
WorkerLost; the tasks of its batch that had not run yet, or whose results died with it, go
back to the front of the queue, and a new worker takes the dead one's place (a shutdown
waits for it, and stops it). A worker whose initializer fails breaks the pool: what is
queued and what is submitted later fails with InitializerFailed.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import CancelledError, Future, InvalidStateError
from typing import Protocol

from cairn.compute import wire
from cairn.compute._worker import MAX_BATCH
from cairn.compute.errors import InitializerFailed, WorkerLost, remote_exception
from cairn.compute.future_internals import cancel_now, is_pending, settled
from cairn.compute.task import Task, check_fits


class Worker(Protocol):
    def prepare(self) -> None:
        """A batch is about to be sent (the pool's lock is held): forget the last one's."""

    def send(self, batch: list[Task]) -> None: ...

    def withdraw(self, task_id: int, from_here: Collection[int]) -> bool:
        """Keep task `task_id` of the batch in hand from starting, unless the worker has
        started it: the running task is one of `from_here` (it, or one after it)."""

    def running_task_id(self) -> int: ...
    def kill(self) -> None: ...
    def stop(self) -> None: ...


Result = tuple[int, bool, object]  # task id, ok, value or (exception, traceback text)


class PoolFuture(Future):
    """A pool task's future: pending until its worker starts the task, so that `cancel()`
    succeeds on any task not started, one already sent to a worker in a batch included."""

    # Class attributes until the pool sets them: a task's future is made per task.
    pool: Pool | None = None
    task: Task | None = None  # until settled: then nothing holds the task from here

    def cancel(self) -> bool:
        pool, task = self.pool, self.task
        if task is not None and not pool.withdraw(task):
            return False
        return cancel_now(self) is not None

    def running(self) -> bool:
        task = self.task
        return Future.running(self) or (task is not None and self.pool.started(task))


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
        self._changed = threading.Condition(self._lock)  # a batch ended, a worker came or went
        self._pending: deque[Task] = deque()
        self._inflight: dict[Worker, list[Task]] = {}
        self._held: dict[Worker, list[Worker]] = {}  # extra workers kept idle for a task
        self._workers: set[Worker] = set()
        self._idle: deque[Worker] = deque()
        self._starting = 0  # replacements being started
        self._dead: str | None = None  # why this pool can run nothing more
        self.broken: str | None = None  # an initializer's traceback, once one failed
        try:
            for _ in range(size):
                self._add(start_worker(self))
        except BaseException:
            self.terminate()
            raise

    def check_fits(self, name: str, cpus: float, gpus: float) -> None:
        check_fits(name, cpus, gpus, (self.size, self.gpus), "this pool (a CPU per worker)")

    def submit(self, task: Task) -> None:
        """Queue `task`, which `check_fits` has let through."""
        task.future.pool, task.future.task = self, task
        with self._lock:
            dead = self._dead
            if dead is None:
                self._pending.append(task)
                sends = self._assign()
        if dead is not None:
            self._settle(task, False, self._refused(task, dead))
            return
        self._send(sends)

    def withdraw(self, task: Task) -> bool:
        """Keep `task` from starting: True if it never will (it had not started)."""
        with self._lock:
            withdrawn = self._withdraw(task)
        if withdrawn:
            wire.unlink(task.segments)  # its worker never loads them
        return withdrawn

    def started(self, task: Task) -> bool:
        with self._lock:
            batch = self._inflight.get(task.worker)
            if batch is None or task not in batch:  # not sent yet, or settled since
                return False
            return task.worker.running_task_id() in _from(task, batch)

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
            # Its tasks keep `worker`: settled or withdrawn, none is asked about it again.
            self._inflight.pop(worker, None)
            self._release(worker)
            self._idle.append(worker)
            sends = self._assign()
            self._changed.notify_all()
        self._send(sends)

    def on_lost(self, worker: Worker, how: str) -> None:
        """`worker` died; `how` says how (exit code, signal)."""
        with self._lock:
            self._forget(worker)
            batch = [task for task in self._inflight.pop(worker, []) if not task.withdrawn]
            for task in batch:
                task.worker = None
            running = worker.running_task_id()
            if self._dead is None:
                lost = [task for task in batch if task.id == running]
                self._pending.extendleft(reversed([task for task in batch if task.id != running]))
            else:  # nothing runs here any more
                lost = batch
            replace = self._replace and self._dead is None
            if replace:
                self._starting += 1
            elif self._dead is None and not self._workers:
                self._dead = f"its worker died ({how})"
                lost += [task for task in self._pending if not task.withdrawn]
                self._pending.clear()
            self._changed.notify_all()
        for task in lost:
            self._settle(
                task, False, WorkerLost(f"task {task.name!r} was lost: its worker process {how}")
            )
        if replace:
            try:
                worker = self._start_worker(self)
            except BaseException:
                with self._lock:
                    self._starting -= 1
                    self._changed.notify_all()
                raise
            self._add(worker, replacing=True)

    def on_broken(self, worker: Worker, text: str) -> None:
        """`worker`'s initializer raised (`text`, its traceback): the pool runs nothing more."""
        with self._lock:
            self._forget(worker)
            self.broken = self.broken or text
            self._dead = self._dead or "a worker's initializer failed"
            failed = [task for task in self._inflight.pop(worker, []) if not task.withdrawn]
            failed += [task for task in self._pending if not task.withdrawn]
            self._pending.clear()
            self._changed.notify_all()
        for task in failed:
            self._settle(task, False, self._refused(task, self._dead))

    def abort(self, task_future: Future, kill: bool) -> None:
        """Stop the task behind `task_future`, which has timed out. Not started, it is
        withdrawn; running, its worker is killed if `kill` (the rest of its batch is
        re-queued)."""
        task = getattr(task_future, "task", None)
        if task is None:  # settled meanwhile
            return
        if self.withdraw(task):
            cancel_now(task_future)
            return
        with self._lock:
            worker = task.worker
            running = worker is not None and worker.running_task_id() == task.id
        if running and kill:
            worker.kill()

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        """Run what is queued to its end (unless `cancel_futures`: what has not started is
        cancelled), then stop the workers. Without `wait` that happens on a thread of its
        own; not a daemon, so the interpreter waits for it at exit, as for the pools of
        `concurrent.futures`."""
        cancelled = []
        if cancel_futures:
            with self._lock:
                queued = [task for task in self._pending if self._withdraw(task)]
                self._pending = deque(task for task in self._pending if not task.withdrawn)
                sent = [task for batch in self._inflight.values() for task in batch]
                cancelled = queued + [task for task in sent if self._withdraw(task)]
        for task in cancelled:
            self._cancel(task)
        if wait:
            self._drain_and_stop()
        else:
            threading.Thread(target=self._drain_and_stop, name="cairn-pool-drain").start()

    def terminate(self) -> None:
        with self._lock:
            self._dead = "the executor was terminated"
            pending = [task for task in self._pending if not task.withdrawn]
            self._pending.clear()
            running = [task for batch in self._inflight.values() for task in batch]
            workers = list(self._workers)
            self._changed.notify_all()  # a drain under way stops waiting
        for task in running:  # before the kills, so that they do not read as lost workers
            if not task.withdrawn:
                cancelled = CancelledError(f"task {task.name!r}: executor terminated")
                self._settle(task, False, cancelled)
        for task in pending:
            self._cancel(task)
        for worker in workers:
            worker.kill()
        with self._lock:
            while self._starting:  # a replacement under way is stopped as it arrives
                self._changed.wait()

    def _drain_and_stop(self) -> None:
        with self._lock:
            while self._dead is None and (
                self._inflight or self._starting or any(not t.withdrawn for t in self._pending)
            ):
                self._changed.wait()
            self._dead = self._dead or "the executor was shut down"
            workers = list(self._workers)
        for worker in workers:
            worker.stop()

    def _add(self, worker: Worker, replacing: bool = False) -> None:
        with self._lock:
            if replacing:
                self._starting -= 1
            dead = self._dead is not None
            if not dead:
                self._workers.add(worker)
                self._idle.append(worker)
                sends = self._assign()
            self._changed.notify_all()
        if dead:  # shut down or terminated while it started
            worker.stop()
            return
        self._send(sends)

    def _withdraw(self, task: Task) -> bool:
        """`withdraw`, the lock held."""
        if task.withdrawn:
            return True
        future = task.future
        if settled(future) or Future.running(future):
            return False
        worker = task.worker
        if worker is not None and not worker.withdraw(task.id, _from(task, self._inflight[worker])):
            return False
        task.withdrawn = True
        future.task = None
        return True

    def _forget(self, worker: Worker) -> None:
        """`worker` is gone (the lock held)."""
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._release(worker)

    def _assign(self) -> list[tuple[Worker, list[Task]]]:
        """Hand queued tasks to idle workers (lock held); the caller sends them."""
        sends = []
        while self._pending and self._idle:
            head = self._pending[0]
            if head.withdrawn:  # cancelled, or timed out, while queued
                self._pending.popleft()
                continue
            need = max(1, math.ceil(head.cpus))
            if need > len(self._idle):
                break  # wait for workers to free up rather than let smaller tasks jump ahead
            size = 1 if need > 1 else max(1, min(MAX_BATCH, len(self._pending) // self.size))
            batch = []
            while self._pending and len(batch) < size and (not batch or self._pending[0].cpus <= 1):
                task = self._pending.popleft()
                if not task.withdrawn:
                    batch.append(task)
            worker = self._idle.pop()  # the last to finish: still warm, not yet parked
            self._held[worker] = [self._idle.popleft() for _ in range(need - 1)]
            self._inflight[worker] = batch
            worker.prepare()
            for task in batch:
                task.worker = worker
            first = batch[0].future
            if is_pending(first):  # (one re-queued after a loss has started already)
                first.set_running_or_notify_cancel()
            sends.append((worker, batch))
        return sends

    def _release(self, worker: Worker) -> None:
        self._idle.extend(w for w in self._held.pop(worker, []) if w in self._workers)

    def _send(self, sends: list[tuple[Worker, list[Task]]]) -> None:
        for worker, batch in sends:
            # If it died, its reader reports the loss and the batch is re-queued.
            with contextlib.suppress(OSError):
                worker.send(batch)

    def broken_error(self, what: str) -> InitializerFailed:
        """Why `what` is not run once a worker's initializer failed."""
        return InitializerFailed(
            f"{what} not run: a worker's initializer failed, the pool is not usable "
            f"anymore:\n{self.broken}"
        )

    def _refused(self, task: Task, why: str) -> BaseException:
        if self.broken is not None:
            return self.broken_error(f"task {task.name!r}")
        return WorkerLost(f"task {task.name!r} not run: {why}")

    def _cancel(self, task: Task) -> None:
        wire.unlink(task.segments)
        if cancel_now(task.future) is None:  # started: re-queued after a loss
            self._settle(task, False, CancelledError(f"task {task.name!r} was cancelled"))

    @staticmethod
    def _settle(task: Task, ok: bool, value: object) -> None:
        wire.unlink(task.segments)
        # Its function and arguments go before the caller hears: nothing here holds them on.
        task.payload, task.data = (), b""
        task.future.task = None
        try:
            if ok:
                task.future.set_result(value)
            else:
                task.future.set_exception(value)
        except InvalidStateError:
            pass  # cancelled, or settled by terminate(), meanwhile


def _from(task: Task, batch: list[Task]) -> set[int]:
    """The ids of `task` and those after it in `batch`: if the worker runs one of them, it
    has started `task`."""
    return {t.id for t in batch[batch.index(task) :]}
