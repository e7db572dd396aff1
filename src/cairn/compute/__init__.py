"""Compute: run Python functions and actors in parallel, on this machine or on Ray.

    with cairn.executor() as ex:                  # "local", "thread", "ray", "ray://host:port"
        futures = [ex.submit(train, c) for c in grid]
        for done in cairn.as_completed(futures): ...
        counter = ex.actor(Counter)               # one dedicated worker keeps its state
        counter.add(1).result()

    results = cairn.map(score, items)             # with a progress bar in a terminal

Futures are `concurrent.futures.Future`s, so `wait` and `as_completed` are the standard ones.
"""

from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait

from cairn.compute.errors import RemoteTraceback, TaskTimeout, WorkerLost
from cairn.compute.executor import ActorHandle, Executor
from cairn.compute.progress import map
from cairn.compute.registry import executor, register

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ActorHandle",
    "Executor",
    "RemoteTraceback",
    "TaskTimeout",
    "WorkerLost",
    "as_completed",
    "executor",
    "map",
    "register",
    "wait",
]
