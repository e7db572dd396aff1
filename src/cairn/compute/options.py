"""Per-task options, kept out of the keywords a task's function receives.

`ex.submit(fn, *args, **kwargs)` passes every keyword to `fn`, as `concurrent.futures` does.
cairn's own options go through a view, as with Ray's `.options()`:

    ex.options(retries=2, timeout=60, resources={"gpus": 1}).submit(train, config)

The view shares the executor (its workers, its shutdown); it only carries the options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cairn.compute.errors import InvalidTaskOptions

if TYPE_CHECKING:
    from cairn.compute.actor_handle import ActorHandle
    from cairn.compute.executor import Executor

RESOURCE_NAMES = ("cpus", "gpus")
_KEEP: object = object()


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """`retries` more attempts after a failure; `timeout` seconds from submission before the
    task is stopped and fails with TaskTimeout; the CPUs and GPUs it holds while it runs."""

    retries: int = 0
    timeout: float | None = None
    cpus: float = 1.0
    gpus: float = 0.0

    def changed(
        self,
        retries: int | object = _KEEP,
        timeout: float | None | object = _KEEP,
        resources: Mapping[str, float] | None | object = _KEEP,
    ) -> TaskOptions:
        """These options with those given replaced, each checked."""
        changes: dict = {}
        if retries is not _KEEP:
            if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
                raise InvalidTaskOptions(f"retries must be a whole number, 0 or more: {retries!r}")
            changes["retries"] = retries
        if timeout is not _KEEP:
            if timeout is not None and not (
                isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)
            ):
                raise InvalidTaskOptions(f"timeout must be seconds above 0: {timeout!r}")
            changes["timeout"] = timeout
        if resources is not _KEEP:
            changes["cpus"], changes["gpus"] = _parse_resources(resources)
        return replace(self, **changes)


DEFAULT = TaskOptions()


def _parse_resources(resources: Mapping[str, float] | None) -> tuple[float, float]:
    """(cpus, gpus) from `{"cpus": 1, "gpus": 0}`; a task needs one CPU unless told otherwise."""
    if resources is None:
        return 1.0, 0.0
    resources = dict(resources)
    unknown = set(resources) - set(RESOURCE_NAMES)
    if unknown:
        raise InvalidTaskOptions(
            f"unknown resources {sorted(unknown)}; known: {', '.join(RESOURCE_NAMES)}"
        )
    cpus, gpus = float(resources.get("cpus", 1)), float(resources.get("gpus", 0))
    if cpus < 0 or gpus < 0:
        raise InvalidTaskOptions(f"resources cannot be negative: {resources}")
    return cpus, gpus


class TaskMethods:
    """`submit`, `map` and `actor`, over an executor and the options its tasks take: the
    executor's own methods, and those of its views from `options()`."""

    __slots__ = ()

    def target(self) -> tuple[Executor, TaskOptions]:
        """The executor that runs the tasks, and their options."""
        raise NotImplementedError

    def options(
        self,
        *,
        retries: int | object = _KEEP,
        timeout: float | None | object = _KEEP,
        resources: Mapping[str, float] | None | object = _KEEP,
    ) -> ExecutorOptions:
        """The executor with task options (those not given are kept): `retries` more
        attempts after a failure, `timeout` seconds from submission (then the task is
        stopped and fails with TaskTimeout), `resources={"cpus": n, "gpus": m}` held while
        it runs."""
        executor, options = self.target()
        return ExecutorOptions(executor, options.changed(retries, timeout, resources))

    def submit(self, fn: Callable, /, *args: object, **kwargs: object) -> Future:
        """Run `fn(*args, **kwargs)`; a Future among the arguments is replaced by its result
        first (if it failed, so does this task)."""
        executor, options = self.target()
        return executor._submit(fn, args, kwargs, options)

    def map(
        self,
        fn: Callable,
        *iterables: Iterable,
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator:
        """Results of `fn` over the items, in order; an item's exception is raised when
        reached. Items travel in chunks, so tiny tasks cost microseconds each. `timeout` is
        a deadline for the whole map, from this call; `resources` apply to each chunk and
        `retries` to each item."""
        executor, options = self.target()
        return executor._map(fn, iterables, timeout, chunksize, options)

    def map_chunks(
        self, fn: Callable, items: list[tuple], chunksize: int | None = None
    ) -> list[Future]:
        """One future per chunk of `items` (argument tuples), each resolving to a list of
        (ok, value)."""
        executor, options = self.target()
        return executor._map_chunks(fn, items, chunksize, options)

    def actor(self, cls: type, /, *args: object, **kwargs: object) -> ActorHandle:
        """An instance of `cls` living in one dedicated worker; its methods return futures.
        It takes `resources` (not retries or a timeout)."""
        executor, options = self.target()
        return executor._actor(cls, args, kwargs, options)


class ExecutorOptions(TaskMethods):
    """`ex.options(...)`: the executor `ex`, whose tasks take these options."""

    __slots__ = ("_executor", "_options")

    def __init__(self, executor: Executor, options: TaskOptions) -> None:
        self._executor = executor
        self._options = options

    @property
    def url(self) -> str:
        return self._executor.url

    @property
    def workers(self) -> int:
        return self._executor.workers

    def target(self) -> tuple[Executor, TaskOptions]:
        return self._executor, self._options

    def __repr__(self) -> str:
        return f"<{self._executor!r} with {self._options}>"
