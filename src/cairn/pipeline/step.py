"""`@cairn.step`: memoized pipeline steps whose results are artifacts and whose runs are lineage.

Calling a step hashes its code (source and `version`) and its arguments' contents into a
key. A key seen before returns the stored result without running the body; otherwise the
body runs in a child run, its result is saved as an artifact and the key is recorded. A
change to the code, the version, an input or a parameter makes a new key, so the step runs
again, and so does every step downstream whose inputs it changes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from cairn.pipeline import cache
from cairn.pipeline.hashing import digest_of_value, plain_json
from cairn.store import get_store
from cairn.tracking import active
from cairn.tracking.artifacts import ArtifactRef, record_input
from cairn.tracking.start import start_run
from cairn.tracking.validation import check_name

log = logging.getLogger("cairn.step")
_produced: dict[
    int, tuple[weakref.ref | None, Any, ArtifactRef]
] = {}  # id -> (ref, value, artifact)
_loaded: dict[str, weakref.ref] = {}  # artifact digest -> a live value decoded from it


class Step:
    """A function whose calls are cached by the content of their inputs."""

    def __init__(self, fn: Callable, version: str, name: str | None, ignore: Iterable[str]):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.version = str(version)
        self.name = check_name(name or fn.__name__, "step name")
        self.ignore = frozenset(ignore)
        self.signature = inspect.signature(fn)
        self.code_digest = _code_digest(fn, self.version)

    def __repr__(self) -> str:
        return f"<cairn.step {self.name} v{self.version}>"

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of a call with these arguments."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = {
            name: digest_of_value(value, name, self.name)
            for name, value in bound.arguments.items()
            if name not in self.ignore
        }
        text = json.dumps(
            {"step": self.name, "code": self.code_digest, "inputs": inputs}, sort_keys=True
        )
        return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        store = get_store()
        key = self.key(*args, **kwargs)
        parent = active.current()
        hit = cache.lookup(store, key) if cache.enabled() else None
        if hit is not None:
            log.info("step %s: cached result %s from run %s", self.name, hit, hit.run_id)
            if parent is not None:
                record_input(store, parent.id, hit)
            return self._value_of(store, hit)
        bound = self.signature.bind(*args, **kwargs)
        params = {
            n: json.loads(t)
            for n, v in bound.arguments.items()
            if (t := plain_json(v)) is not None and len(t) <= 1000
        }
        with start_run(
            self.name,
            parent=parent,
            params=params,
            tags={
                "cairn.step": self.name,
                "cairn.step.key": key,
                "cairn.step.version": self.version,
            },
        ) as run:
            log.info("step %s: running (run %s)", self.name, run.id)
            for value in bound.arguments.values():
                upstream = _artifact_of(value)
                if upstream is not None:
                    record_input(store, run.id, upstream)
            result = self.fn(*args, **kwargs)
            artifact = run.save(self.name, result, kind="step")
        if not cache.insert(store, key, self.name, artifact, run.id):
            log.info("step %s: another caller stored this result first", self.name)
        _remember(result, artifact)
        return result

    def _value_of(self, store, artifact: ArtifactRef) -> Any:
        # The same process asking again gets the object it already has, not a second copy.
        alive = _loaded.get(artifact.digest)
        value = alive() if alive is not None else None
        if value is None:
            value = store.get_value(artifact.digest)
            digest = artifact.digest
            with contextlib.suppress(TypeError):  # values without weak references: no reuse
                _loaded[digest] = weakref.ref(value, lambda _: _loaded.pop(digest, None))
        _remember(value, artifact)
        return value


def _remember(value: Any, artifact: ArtifactRef) -> None:
    """Which artifact a value came from, so a step it is passed to records the edge."""
    key = id(value)
    try:
        ref = weakref.ref(value, lambda _: _produced.pop(key, None))
    except TypeError:
        return  # ints, tuples...: no identity worth tracking
    _produced[key] = (ref, artifact)


def _artifact_of(value: Any) -> ArtifactRef | None:
    entry = _produced.get(id(value))
    return entry[1] if entry is not None and entry[0]() is value else None


def _code_digest(fn: Callable, version: str) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):  # defined in a REPL: fall back to the bytecode
        code = fn.__code__
        source = repr((code.co_code, code.co_consts, code.co_names))
    text = f"{fn.__module__}.{fn.__qualname__}\n{version}\n{inspect.cleandoc(source)}"
    return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()


def step(
    fn: Callable | None = None,
    *,
    version: str = "1",
    name: str | None = None,
    ignore: Iterable[str] = (),
) -> Any:
    """Make `fn` a memoized step: `@cairn.step` or `@cairn.step(version="2")`."""
    if fn is not None:
        return Step(fn, version, name, ignore)
    return lambda f: Step(f, version, name, ignore)
