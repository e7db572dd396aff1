"""Compute: run Python functions and actors in parallel, on this machine or on Ray.

    with cairn.executor() as ex:                  # "local", "thread", "ray", "ray://host:port"
        futures = [ex.submit(train, c) for c in grid]
        for done in cairn.as_completed(futures): ...
        slow = ex.options(timeout=60, retries=2).submit(train, c)   # cairn's task options
        counter = ex.actor(Counter)               # one dedicated worker keeps its state
        counter.add(1).result()

    results = cairn.map(score, items)             # with a progress bar in a terminal

Executors are `concurrent.futures.Executor`s and their futures are `concurrent.futures.Future`s,
so `wait` and `as_completed` are the standard ones.
"""

from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait

from cairn.compute.actor_handle import ActorHandle
from cairn.compute.errors import (
    ActorConstructorFailed,
    BackendUnavailable,
    ExecutorShutDown,
    InitializerFailed,
    InvalidTaskOptions,
    NotAnActorMethod,
    NotPicklable,
    RemoteTraceback,
    TaskFailed,
    TaskTimeout,
    WorkerLost,
)
from cairn.compute.executor import Executor
from cairn.compute.mapping import map
from cairn.compute.options import ExecutorOptions
from cairn.compute.registry import executor, register

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ActorConstructorFailed",
    "ActorHandle",
    "BackendUnavailable",
    "Executor",
    "ExecutorOptions",
    "ExecutorShutDown",
    "InitializerFailed",
    "InvalidTaskOptions",
    "NotAnActorMethod",
    "NotPicklable",
    "RemoteTraceback",
    "TaskFailed",
    "TaskTimeout",
    "WorkerLost",
    "as_completed",
    "executor",
    "map",
    "register",
    "wait",
]
