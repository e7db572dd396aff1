"""The pickles of the functions a local executor sends, made once while they stay the same.

Pickling a function defined in a script (by value, with cloudpickle) was a sixth of a small
task's round trip. A function's pickle is reused while its code, defaults, attributes and
the globals it names (and those named by the functions of its module that it calls) are
the very same objects; rebinding any of them (`THRESHOLD = 0.7`) pickles it again. An
object changed in place (a list appended to) is not noticed, nor a global read by a method
of a class of the script, as with Ray, which pickles a remote function once. Pickles over
`MAX_BYTES` (a function naming a large array) are not kept: they travel inside each task,
where large buffers go through shared memory. The Ray backend exports a function again on
the same terms.
"""

from __future__ import annotations

import functools
import itertools
import types
import weakref
from collections.abc import Callable

import cloudpickle

MAX_BYTES = 64 * 1024
Pickled = tuple[int, bytes]  # a number for this pickle, the pickle
_MISSING = object()


class PickledFunctions:
    """Each kept pickle has a number of its own, by which a worker keeps the function it
    unpickled: looking it up costs nothing, where keying by the bytes hashed them per task."""

    def __init__(self) -> None:
        self._pickles: weakref.WeakKeyDictionary[Callable, tuple[tuple, Pickled]] = (
            weakref.WeakKeyDictionary()
        )
        self._numbers = itertools.count(1)

    def pickle_of(self, fn: object) -> Pickled | None:
        """(number, pickle) of `fn`, or None if `fn` is to travel inside its task."""
        state = function_state(fn)
        if state is None:
            return None
        kept = self._pickles.get(fn)
        if kept is not None and same_state(kept[0], state):
            return kept[1]
        data = cloudpickle.dumps(fn, protocol=5)
        if len(data) > MAX_BYTES:
            return None
        pickled = (next(self._numbers), data)
        self._pickles[fn] = (state, pickled)
        return pickled


def function_state(fn: object) -> tuple | None:
    """The objects the pickle of `fn` is made of (held, so that no id is reused), or None
    for a callable whose pickle is not kept: a closure, a method bound to an object."""
    if isinstance(fn, types.BuiltinFunctionType):
        return () if isinstance(fn.__self__, types.ModuleType | None) else None
    if not isinstance(fn, types.FunctionType) or fn.__closure__ is not None:
        return None
    state: list = []
    _add_state(fn, state, {id(fn)})
    return tuple(state)


def _add_state(fn: types.FunctionType, state: list, seen: set[int]) -> None:
    """Append what `fn`'s pickle holds, and what the functions of its module that it names
    hold (pickled with it by value: `f` calling `helper` that reads a rebound global)."""
    names = fn.__globals__
    found = [names.get(name, _MISSING) for name in _global_names(fn.__code__)]
    state += (fn.__code__, fn.__defaults__, fn.__kwdefaults__, *fn.__dict__.items(), *found)
    for value in found:
        if (
            isinstance(value, types.FunctionType)
            and value.__globals__ is names
            and id(value) not in seen
        ):
            seen.add(id(value))
            _add_state(value, state, seen)


@functools.lru_cache(maxsize=1024)
def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Every name `code` and the code nested in it may read as a global."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return tuple(sorted(names))


def same_state(kept: tuple | None, now: tuple | None) -> bool:
    if kept is None or now is None:
        return kept is now
    return len(kept) == len(now) and all(a is b for a, b in zip(kept, now, strict=True))
