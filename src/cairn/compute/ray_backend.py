"""The `ray` backend: tasks and actors on a Ray cluster.

`ray` joins the Ray already initialized in this process or starts a local one;
`ray://host:port` connects to a cluster. A module-level function called outside any run
becomes a Ray remote function of its own, exported once, as `ray.remote(fn)` would make
it: a task carries only its arguments and returns the bare value, so cairn adds nothing
on the worker's side. Everything else (lambdas and closures, map chunks, actors, tasks
logging into the caller's run) runs through `run_task`, as on the other backends.
Exceptions come back with their remote traceback either way; Ray's own failures (a worker
or node that died, memory pressure) become WorkerLost. Ray's retries are off: `retries=`
does it.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import types
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import CancelledError, Future, InvalidStateError

import ray
import ray.exceptions

from cairn.compute._worker import CALL, run_task
from cairn.compute.errors import InvalidTaskOptions
from cairn.compute.executor import Executor
from cairn.compute.pickled_functions import function_state, same_state
from cairn.compute.ray_future import RayFuture, cancel_ref, settle_ended
from cairn.compute.task import Task, check_fits, not_picklable

_NOT_PLAIN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _execute(kind: int, payload: tuple, context: object) -> tuple:
    return run_task(kind, payload, context, {})


def _inside_run(fn: Callable) -> Callable:
    """`fn` run inside the caller's run, as a function of its own so that Ray exports it
    once and each task carries only its arguments and the run's context."""

    def call(context: object, *args: object, **kwargs: object) -> tuple:
        return run_task(CALL, (fn, args, kwargs), context, {})

    call.__name__ = getattr(fn, "__name__", "call")
    call.__qualname__ = getattr(fn, "__qualname__", call.__name__)
    return call


def _defined_once(fn: object) -> bool:
    """A plain function defined at module level: submitted many times, worth exporting once
    (a lambda or closure made per call would be exported per call instead). Ray would make
    a generator or `async def` function a streaming or async task: those go through
    `run_task`, which calls them as the other backends do."""
    return (
        isinstance(fn, types.FunctionType)
        and "<" not in fn.__qualname__
        and not fn.__code__.co_flags & _NOT_PLAIN
    )


class _Actor:
    def __init__(self) -> None:
        self.state: dict = {}

    def run(self, kind: int, payload: tuple, context: object) -> tuple:
        return run_task(kind, payload, context, self.state)


SWEEP_AT_LEAST = 1024  # pending futures before the first sweep

_remote_execute = ray.remote(max_retries=0)(_execute)
_RemoteActor = ray.remote(max_restarts=0)(_Actor)


class _RayUse:
    """Which executors use this process's Ray: one that cairn started is stopped by the
    last of them, never under another executor still open."""

    lock = threading.RLock()  # a future's callbacks run while it is held
    executors = 0
    started_by_cairn = False

    @classmethod
    def join(cls, url: str, workers: int | None) -> None:
        with cls.lock:
            if not ray.is_initialized():
                address = url if url.startswith("ray://") else None
                ray.init(
                    address=address,
                    num_cpus=None if address else workers,
                    include_dashboard=False,
                    log_to_driver=True,
                )
                cls.started_by_cairn = True
            cls.executors += 1

    @classmethod
    def leave(cls, before_stopping: Callable[[], None]) -> None:
        with cls.lock:
            cls.executors -= 1
            if cls.executors or not cls.started_by_cairn:
                return
            before_stopping()
            ray.shutdown()
            cls.started_by_cairn = False


class RayExecutor(Executor):
    _future_type = RayFuture

    def __init__(self, url: str = "ray", workers: int | None = None) -> None:
        self.url = url
        _RayUse.join(url, workers)
        totals = ray.cluster_resources()
        self.workers = workers or int(totals.get("CPU", 1))
        # A local Ray keeps its size, and queues a task larger than itself for ever: such a
        # task is refused, as by a local pool. A remote cluster may grow to fit it.
        local = not url.startswith("ray://")
        self._totals = (totals.get("CPU", 0), totals.get("GPU", 0)) if local else None
        self._pending: set[RayFuture] = set()  # submitted, maybe still running
        self._sweep_at = SWEEP_AT_LEAST
        self._actors: list = []
        # (id(fn), in a run, cpus, gpus) -> (fn, what its pickle is made of, remote function):
        # exported again when that changes; holding fn keeps its id from being reused.
        self._remotes: dict[tuple, tuple[object, tuple, Callable]] = {}
        super().__init__()

    def _start(self, task: Task) -> Future:
        direct = task.kind == CALL and _defined_once(task.payload[0])
        try:
            if direct:
                fn, args, kwargs = task.payload
                remote = self._remote_for(fn, task)
                if task.context is None:
                    ref = remote.remote(*args, **kwargs)
                else:
                    ref = remote.remote(task.context, *args, **kwargs)
            else:
                remote = self._remote_for(_execute, task)
                ref = remote.remote(task.kind, task.payload, task.context)
        except TypeError as exc:  # Ray pickles the arguments right here
            task.future.set_exception(not_picklable(task, exc))
            return task.future
        return self._track(task, ref, bare=direct and task.context is None)

    def _check_fits(self, name: str, cpus: float, gpus: float) -> None:
        if self._totals is not None:
            check_fits(name, cpus, gpus, self._totals, "this Ray")

    def _remote_for(self, fn: Callable, task: Task) -> Callable:
        in_run = task.context is not None and fn is not _execute
        key = (id(fn), in_run, task.cpus, task.gpus)
        found = self._remotes.get(key)
        state = () if fn is _execute else function_state(fn)
        if found is None or not same_state(found[1], state):
            if fn is _execute:
                base = _remote_execute
            else:
                base = ray.remote(max_retries=0)(_inside_run(fn) if in_run else fn)
            if (task.cpus, task.gpus) != (1.0, 0.0):  # Ray's defaults: options() costs per call
                base = base.options(num_cpus=task.cpus, num_gpus=task.gpus)
            found = self._remotes[key] = (fn, state, base)
        return found[2]

    def _abort(self, future: Future) -> None:
        if future in self._pending:
            cancel_ref(future.ref, force=True)

    def _new_actor(self, task: Task) -> Callable[[Task], Future]:
        actor = _RemoteActor.options(num_cpus=task.cpus, num_gpus=task.gpus).remote()
        self._actors.append(actor)

        def call(call_task: Task) -> Future:
            ref = actor.run.remote(call_task.kind, call_task.payload, call_task.context)
            return self._track(call_task, ref, bare=False)

        call(task)
        return call

    def _admit(self) -> None:
        # Here, not in `_start`: a retry starts from Ray's callback thread, which must not
        # wait on Ray.
        super()._admit()
        if len(self._pending) >= self._sweep_at:
            self._sweep()

    def _track(self, task: Task, ref: ray.ObjectRef, bare: bool) -> Future:
        task.future.watch(ref, task.name, bare, self._pending)
        return task.future

    def _sweep(self) -> None:
        """Settle the futures whose tasks have ended.

        A future leaves `_pending` when it settles, but one nobody waits for never does: the
        executor would keep it, and Ray its result, until shutdown, and after a shutdown
        that stops Ray it could no longer be fetched. Sweeping when the set has doubled
        keeps the cost per task constant."""
        pending = list(self._pending)
        ready, _ = ray.wait(
            [future.ref for future in pending],
            num_returns=len(pending),
            timeout=0,
            fetch_local=False,
        )
        ended = set(ready)
        settle_ended([future for future in pending if future.ref in ended])
        self._sweep_at = max(SWEEP_AT_LEAST, 2 * len(self._pending))

    def _shutdown(self, wait: bool, cancel_futures: bool) -> None:
        if cancel_futures:
            for future in list(self._pending):
                future.cancel()
        if wait:
            futures.wait(list(self._pending))
        # Without `wait`, tasks go on in a Ray that stays up and their futures can still be
        # fetched; a Ray that stops with this executor takes them with it.
        self._release("the executor was shut down before the task ended")

    def _terminate(self) -> None:
        for future in list(self._pending):
            cancel_ref(future.ref, force=True)
        self._fail_pending("the executor was terminated")
        self._release("the executor was terminated")

    def _release(self, why: str) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
        _RayUse.leave(lambda: self._fail_pending(why))

    def _fail_pending(self, why: str) -> None:
        for future in list(self._pending):
            with contextlib.suppress(InvalidStateError):
                future.set_exception(CancelledError(f"task {future.name!r}: {why}"))
            self._pending.discard(future)


def create(
    url: str, workers: int | None, initializer: Callable | None = None, initargs: tuple = ()
) -> RayExecutor:
    if initializer is not None:
        raise InvalidTaskOptions(
            "the ray executor takes no initializer: Ray's workers are shared and start on "
            "their own; pass runtime_env={'worker_process_setup_hook': ...} to ray.init"
        )
    return RayExecutor(url, workers)
