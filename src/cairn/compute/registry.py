"""Executors by URL: `local`, `thread`, `ray`, `ray://host:port`; one module per scheme."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from cairn.compute.executor import Executor

Factory = Callable[[str, "int | None"], Executor]

# A scheme maps to the module whose `create(url, workers)` builds the executor; modules are
# imported on first use, so `ray` is only imported by those who ask for it.
_backends: dict[str, str | Factory] = {
    "local": "cairn.compute.local",
    "thread": "cairn.compute.threaded",
    "ray": "cairn.compute.ray_backend",
}


def register(scheme: str, factory: Factory) -> None:
    """Make `executor("SCHEME://...")` call `factory(url, workers)`."""
    _backends[scheme] = factory


def executor(url: str = "local", workers: int | None = None) -> Executor:
    """An executor for `url`: `local` (worker processes), `thread`, `ray` (a local Ray
    cluster, or the one already initialized), `ray://host:port` (a remote Ray cluster)."""
    scheme = url.split("://", 1)[0]
    backend = _backends.get(scheme)
    if backend is None:
        raise ValueError(
            f"unknown executor URL {url!r}; known schemes: {', '.join(sorted(_backends))}"
        )
    factory = importlib.import_module(backend).create if isinstance(backend, str) else backend
    return factory(url, workers)
