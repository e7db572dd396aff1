"""A unit of work as every backend sees it: what to run, what it needs, where it came from."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

import cloudpickle

_ids = itertools.count(1)
RESOURCE_NAMES = ("cpus", "gpus")


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


def parse_resources(resources: Mapping[str, float] | None) -> tuple[float, float]:
    """(cpus, gpus) from `{"cpus": 1, "gpus": 0}`; a task needs one CPU unless told otherwise."""
    if resources is None:
        return 1.0, 0.0
    resources = dict(resources)
    unknown = set(resources) - set(RESOURCE_NAMES)
    if unknown:
        raise ValueError(f"unknown resources {sorted(unknown)}; known: {', '.join(RESOURCE_NAMES)}")
    cpus, gpus = float(resources.get("cpus", 1)), float(resources.get("gpus", 0))
    if cpus < 0 or gpus < 0:
        raise ValueError(f"resources cannot be negative: {resources}")
    return cpus, gpus


def check_fits(task: Task, cpus: float, gpus: float, where: str) -> None:
    """Refuse `task` if it needs more CPUs or GPUs than `where` has in all: it would wait
    for ever."""
    if task.cpus > cpus or task.gpus > gpus:
        raise ValueError(
            f"task {task.name!r} needs {task.cpus:g} CPUs and {task.gpus:g} GPUs; "
            f"{where} has {cpus:g} CPUs and {gpus:g} GPUs"
        )


def task_name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def unpicklable(task: Task, exc: Exception) -> TypeError:
    """The error for a task whose payload could not be pickled, naming the culprit."""
    return TypeError(
        f"task {task.name!r} cannot be sent to a worker: "
        f"{_unpicklable_part(task.payload)} cannot be pickled ({exc})"
    )


def _unpicklable_part(payload: tuple) -> str:
    """Which part of a task's payload pickling failed on, for the error message."""
    first, *rest = payload
    parts = [("the callable" if callable(first) else "the method name", first)]
    if len(rest) == 1:  # a chunk of map items
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


def cancel_now(future: Future) -> bool | None:
    """`Future.cancel` for a future no worker will take from a queue, so nobody else would
    notify its waiters (`concurrent.futures.wait` and `as_completed` included): they are
    notified here. True if this call cancelled it, False if it was cancelled already, None
    if it cannot be (running or done)."""
    with future._condition:
        if not Future.cancel(future):
            return None
        first = future._state == "CANCELLED"  # not notified yet: cancelled just now
        if first:
            future.set_running_or_notify_cancel()
    return first
