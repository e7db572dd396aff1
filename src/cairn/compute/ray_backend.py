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
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import CancelledError, Future, InvalidStateError

import ray
import ray.exceptions

from cairn.compute._worker import run_task
from cairn.compute.errors import WorkerLost, remote_exception
from cairn.compute.executor import Executor
from cairn.compute.task import Task, unpicklable


def _execute(kind: int, payload: tuple, context: object) -> tuple:
    return run_task(kind, payload, context, {})


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
        self._options: dict[tuple[float, float], Callable] = {}

    def _start(self, task: Task) -> Future:
        key = (task.cpus, task.gpus)
        remote = self._options.get(key)
        if remote is None:
            remote = self._options[key] = _remote_execute.options(
                num_cpus=task.cpus, num_gpus=task.gpus
            )
        try:
            ref = remote.remote(task.kind, task.payload, task.context)
        except TypeError as exc:  # Ray pickles the arguments right here
            task.future.set_exception(unpicklable(task, exc))
            return task.future
        return self._track(task, ref)

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
        ref.future().add_done_callback(lambda done: self._settle(task, done))
        return future

    def _settle(self, task: Task, done: Future) -> None:
        with self._lock:
            self._refs.pop(task.future, None)
        try:
            ok, value = done.result()
            outcome = value if ok else remote_exception(*value)
        except _LOST as exc:
            ok, outcome = False, WorkerLost(f"task {task.name!r} was lost: {exc}")
        except (ray.exceptions.TaskCancelledError, CancelledError):
            ok, outcome = False, CancelledError(f"task {task.name!r} was cancelled")
        except Exception as exc:  # Ray could not run it: e.g. an argument it cannot pickle
            ok, outcome = False, exc
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


def _cancel(ref: ray.ObjectRef, force: bool) -> None:
    try:
        ray.cancel(ref, force=force)
    except (ValueError, TypeError):  # an actor's call: Ray cannot force-cancel those
        ray.cancel(ref)


def create(url: str, workers: int | None) -> RayExecutor:
    return RayExecutor(url, workers)
