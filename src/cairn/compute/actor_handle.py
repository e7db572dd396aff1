"""The caller's handle on an actor: `handle.method(*args)` returns a Future."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from cairn.compute._worker import ACTOR_CALL
from cairn.compute.errors import NotAnActorMethod
from cairn.compute.task import Task, task_name

if TYPE_CHECKING:
    from cairn.compute.executor import Executor

_MISSING = object()


class ActorHandle:
    """`handle.method(*args, **kwargs)` runs `method` on the remote instance and returns a
    Future. Only methods are reached: the actor's class says which names are methods when
    the handle is asked, so a data attribute is an error here rather than a call that fails
    later in the worker."""

    def __init__(self, executor: Executor, call: Callable[[Task], Future], cls: type) -> None:
        self._executor = executor
        self._call = call
        self._cls = cls
        self._name = task_name(cls)

    def __getattr__(self, method: str) -> Callable[..., Future]:
        if method.startswith("__"):
            raise AttributeError(method)
        _check_method(self._cls, method)
        executor, name = self._executor, f"{self._name}.{method}"

        def call(*args: object, **kwargs: object) -> Future:
            task = executor._task(ACTOR_CALL, (method, args, kwargs), name, executor._context(), 0)
            with executor._close_lock:
                executor._admit()
                return self._call(task)

        call.__name__ = call.__qualname__ = method
        self.__dict__[method] = call  # checked once: later lookups find it here
        return call

    def __repr__(self) -> str:
        return f"<actor {self._name} on {self._executor.url}>"


def _check_method(cls: type, name: str) -> None:
    found = inspect.getattr_static(cls, name, _MISSING)
    if found is _MISSING:
        if inspect.getattr_static(cls, "__getattr__", None) is not None:
            return  # the class makes its attributes up: let the actor answer
        raise NotAnActorMethod(
            f"{cls.__qualname__} has no method {name!r}; an actor is reached through its "
            "methods (to read an attribute, give the class a method that returns it)"
        )
    if not isinstance(found, staticmethod | classmethod) and not callable(found):
        raise NotAnActorMethod(
            f"{cls.__qualname__}.{name} is a {type(found).__name__}, not a method; an actor "
            "is reached through its methods (to read it, give the class a method that returns it)"
        )
