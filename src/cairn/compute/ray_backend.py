"""The `ray` backend: tasks and actors on a Ray cluster.

`ray` joins the Ray already initialized in this process or starts a local one;
`ray://host:port` connects to a cluster. Tasks run through one remote function that runs
the same `run_task` as the other backends and returns its outcome, so exceptions come back
with their remote traceback as everywhere else; Ray's own failures (a worker or node that
died, memory pressure) become WorkerLost. Ray's retries are off: `retries=` does it.
"""

from __future__ import annotations

import contextlib
import threading
import types
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import CancelledError, Future, InvalidStateError

import ray
import ray.exceptions

from cairn.compute._worker import CALL, run_task
from cairn.compute.errors import WorkerLost, remote_exception
from cairn.compute.executor import Executor
from cairn.compute.task import Task, unpicklable


def _execute(kind: int, payload: tuple, context: object) -> tuple:
    return run_task(kind, payload, context, {})


def _bind(fn: Callable) -> Callable:
    """A Ray remote function for `fn`: Ray exports it once, so each task carries only its
    arguments, as with `ray.remote(fn)`, instead of `fn` pickled again."""

    def call(context: object, *args: object, **kwargs: object) -> tuple:
        return run_task(CALL, (fn, args, kwargs), context, {})

    call.__name__ = getattr(fn, "__name__", "call")
    call.__qualname__ = getattr(fn, "__qualname__", call.__name__)
    return ray.remote(max_retries=0)(call)


def _defined_once(fn: object) -> bool:
    """A function defined at module level: submitted many times, worth exporting once (a
    lambda or closure made per call would be exported per call instead)."""
    return isinstance(fn, types.FunctionType) and "<" not in fn.__qualname__


class _Actor:
    def __init__(self) -> None:
        self.state: dict = {}

    def run(self, kind: int, payload: tuple, context: object) -> tuple:
        return run_task(kind, payload, context, self.state)


_remote_execute = ray.remote(max_retries=0)(_execute)
_RemoteActor = ray.remote(max_restarts=0)(_Actor)

_LOST = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.RayActorError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
)


class _RayFuture(Future):
    """Stays pending while Ray runs the task, so that `cancel()` reaches Ray as it would a
    queued task of a pool (Ray interrupts the task if it has started)."""

    def __init__(self, ref: ray.ObjectRef) -> None:
        super().__init__()
        self.ref = ref

    def cancel(self) -> bool:
        # Cancelled here first: Ray's answer (TaskCancelledError) may arrive before ours.
        if not super().cancel():
            return False
        _cancel(self.ref, force=False)
        return True


class RayExecutor(Executor):
    def __init__(self, url: str = "ray", workers: int | None = None) -> None:
        super().__init__()
        self.url = url
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            address = url if url.startswith("ray://") else None
            ray.init(
                address=address,
                num_cpus=None if address else workers,
                include_dashboard=False,
                log_to_driver=True,
            )
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        self._lock = threading.Lock()
        self._refs: dict[Future, ray.ObjectRef] = {}
        self._actors: list = []
        self._options: dict[tuple[int, float, float], Callable] = {}
        self._bound: dict[int, tuple[Callable, Callable]] = {}  # id(fn) -> (fn, remote)

    def _start(self, task: Task) -> Future:
        try:
            if task.kind == CALL and _defined_once(task.payload[0]):
                fn, args, kwargs = task.payload
                remote = self._remote_for(fn, task.cpus, task.gpus)
                ref = remote.remote(task.context, *args, **kwargs)
            else:
                remote = self._remote_for(_execute, task.cpus, task.gpus)
                ref = remote.remote(task.kind, task.payload, task.context)
        except TypeError as exc:  # Ray pickles the arguments right here
            task.future.set_exception(unpicklable(task, exc))
            return task.future
        return self._track(task, ref)

    def _remote_for(self, fn: Callable, cpus: float, gpus: float) -> Callable:
        key = (id(fn), cpus, gpus)
        found = self._options.get(key)
        if found is None:
            if fn is _execute:
                base = _remote_execute
            else:
                # Holding fn keeps its id from being reused by another function.
                base = self._bound.setdefault(id(fn), (fn, _bind(fn)))[1]
            found = self._options[key] = base.options(num_cpus=cpus, num_gpus=gpus)
        return found

    def _abort(self, future: Future) -> None:
        ref = self._refs.get(future)
        if ref is not None:
            _cancel(ref, force=True)

    def _new_actor(self, task: Task) -> Callable[[Task], Future]:
        actor = _RemoteActor.options(num_cpus=task.cpus, num_gpus=task.gpus).remote()
        self._actors.append(actor)

        def call(call_task: Task) -> Future:
            return self._track(
                call_task, actor.run.remote(call_task.kind, call_task.payload, call_task.context)
            )

        call(task)
        return call

    def _track(self, task: Task, ref: ray.ObjectRef) -> Future:
        future = task.future = _RayFuture(ref)
        with self._lock:
            self._refs[future] = ref
        on_completed = getattr(ref, "_on_completed", None)
        if on_completed is not None:
            # Ray's completion hook, the one under `ref.future()`: one callback per task
            # instead of a second Future in between, 10 % of a no-op task's cost.
            on_completed(lambda result: self._settle(task, result))
        else:
            ref.future().add_done_callback(lambda done: self._settle(task, _outcome_of(done)))
        return future

    def _settle(self, task: Task, result: object) -> None:
        """`result` is the task's (ok, value), or the error Ray had instead of it."""
        with self._lock:
            self._refs.pop(task.future, None)
        if isinstance(result, ray.exceptions.RayTaskError):
            result = result.as_instanceof_cause()
        if isinstance(result, _LOST):
            ok, outcome = False, WorkerLost(f"task {task.name!r} was lost: {result}")
        elif isinstance(result, ray.exceptions.TaskCancelledError | CancelledError):
            ok, outcome = False, CancelledError(f"task {task.name!r} was cancelled")
        elif isinstance(result, BaseException):  # e.g. an argument Ray could not pickle
            ok, outcome = False, result
        else:
            ok, value = result
            outcome = value if ok else remote_exception(*value)
        try:
            if ok:
                task.future.set_result(outcome)
            else:
                task.future.set_exception(outcome)
        except InvalidStateError:
            pass  # timed out meanwhile

    def _shutdown(self, wait: bool, cancel_futures: bool) -> None:
        with self._lock:
            refs = dict(self._refs)
        if cancel_futures:
            for ref in refs.values():
                _cancel(ref, force=False)
        if wait:
            futures.wait(refs)
        self._release()

    def _terminate(self) -> None:
        with self._lock:
            refs = dict(self._refs)
        for ref in refs.values():
            _cancel(ref, force=True)
        for future in refs:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(CancelledError("the executor was terminated"))
        self._release()

    def _release(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
        if self._owns_ray:
            ray.shutdown()


def _outcome_of(done: Future) -> object:
    try:
        return done.result()
    except BaseException as exc:
        return exc


def _cancel(ref: ray.ObjectRef, force: bool) -> None:
    try:
        ray.cancel(ref, force=force)
    except (ValueError, TypeError):  # an actor's call: Ray cannot force-cancel those
        ray.cancel(ref)


def create(url: str, workers: int | None) -> RayExecutor:
    return RayExecutor(url, workers)
