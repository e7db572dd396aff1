"""Executors by URL: `local`, `thread`, `ray`, `ray://host:port`; one module per scheme."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from cairn.compute.errors import BackendUnavailable, InvalidTaskOptions
from cairn.compute.executor import Executor

# `factory(url, workers)`, and `initializer=`, `initargs=` when the caller gives them.
Factory = Callable[..., Executor]

# A scheme maps to the module whose `create(url, workers, ...)` builds the executor; modules
# are imported on first use, so `ray` is only imported by those who ask for it.
_backends: dict[str, str | Factory] = {
    "local": "cairn.compute.local",
    "thread": "cairn.compute.threaded",
    "ray": "cairn.compute.ray_backend",
}
# scheme: (the package its module needs beyond cairn's dependencies, the extra installing it)
_EXTRAS = {"ray": ("ray", "ray")}


def register(scheme: str, factory: Factory) -> None:
    """Make `executor("SCHEME://...")` call `factory(url, workers)` (with `initializer=` and
    `initargs=` too when they are given)."""
    _backends[scheme] = factory


def executor(
    url: str = "local",
    workers: int | None = None,
    *,
    initializer: Callable | None = None,
    initargs: tuple = (),
) -> Executor:
    """An executor for `url`: `local` (worker processes), `thread`, `ray` (a local Ray
    cluster, or the one already initialized), `ray://host:port` (a remote Ray cluster).

    `initializer(*initargs)` runs once in each worker before its first task, as in the
    standard executors; if it raises, the executor runs nothing more (its futures fail with
    InitializerFailed, a BrokenExecutor)."""
    scheme = url.split("://", 1)[0]
    backend = _backends.get(scheme)
    if backend is None:
        raise InvalidTaskOptions(
            f"unknown executor URL {url!r}; known schemes: {', '.join(sorted(_backends))}"
        )
    if initializer is not None and not callable(initializer):
        raise InvalidTaskOptions(f"initializer must be callable, not {initializer!r}")
    factory = _factory(scheme, backend) if isinstance(backend, str) else backend
    if initializer is None:
        return factory(url, workers)
    return factory(url, workers, initializer=initializer, initargs=tuple(initargs))


def _factory(scheme: str, module: str) -> Factory:
    try:
        return importlib.import_module(module).create
    except ModuleNotFoundError as exc:
        package, extra = _EXTRAS.get(scheme, (None, None))
        if exc.name != package:
            raise
        raise BackendUnavailable(
            f"the {scheme!r} executor needs {package}, which is not installed: "
            f"pip install 'cairn[{extra}]'"
        ) from exc
