"""A unit of work as every backend sees it: what to run, what it needs, where it came from."""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from dataclasses import dataclass, field

import cloudpickle

from cairn.compute._worker import CHUNK
from cairn.compute.errors import InvalidTaskOptions, NotPicklable

_ids = itertools.count(1)


@dataclass(eq=False, slots=True)
class Task:
    kind: int  # one of _worker.CALL, CHUNK, NEW_ACTOR, ACTOR_CALL
    payload: tuple
    name: str
    context: object  # what the worker needs to log into the caller's run
    cpus: float
    gpus: float
    future: Future  # of the backend's own kind: the executor makes it
    id: int = field(default_factory=lambda: next(_ids))
    # Filled by the local pool: the (number, pickle) of a call's function (None: inside
    # `data`), the rest of the payload pickled, and the shared memory it owns.
    function: tuple[int, bytes] | None = None
    data: bytes = b""
    segments: tuple = ()
    # Kept by a pool under its lock: the worker whose batch holds the task, and whether it
    # was withdrawn (cancelled, timed out) before it started.
    worker: object = None
    withdrawn: bool = False


def check_fits(name: str, cpus: float, gpus: float, has: tuple[float, float], where: str) -> None:
    """Refuse a task needing more CPUs or GPUs than `where` has in all (`has`): it would wait
    for ever."""
    if cpus > has[0] or gpus > has[1]:
        raise InvalidTaskOptions(
            f"task {name!r} needs {cpus:g} CPUs and {gpus:g} GPUs; "
            f"{where} has {has[0]:g} CPUs and {has[1]:g} GPUs"
        )


def task_name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def not_picklable(task: Task, exc: Exception) -> NotPicklable:
    """The error for a task whose payload could not be pickled, naming the culprit."""
    error = NotPicklable(
        f"task {task.name!r} cannot be sent to a worker: "
        f"{_unpicklable_part(task.kind, task.payload)} cannot be pickled ({exc})"
    )
    error.__cause__ = exc
    return error


def _unpicklable_part(kind: int, payload: tuple) -> str:
    """Which part of a task's payload pickling failed on, for the error message."""
    first, *rest = payload
    parts = [("the callable" if callable(first) else "the method name", first)]
    if kind == CHUNK:
        parts += [(f"item {i} of map", item) for i, item in enumerate(rest[0])]
    else:
        args, kwargs = rest
        parts += [(f"argument {i}", arg) for i, arg in enumerate(args)]
        parts += [(f"keyword argument {key!r}", arg) for key, arg in kwargs.items()]
    for label, value in parts:
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"{label} (a {type(value).__qualname__})"
    return "the task"
