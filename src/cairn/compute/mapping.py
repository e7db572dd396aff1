"""`cairn.map`: a function over items, in parallel, with a progress bar in a terminal.

Without an executor it runs on one local pool per process, started by the first call and
kept warm for the next ones (a worker that has imported scikit-learn once does not import it
again); it is shut down at exit, and a forked child starts its own.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import as_completed

from cairn.compute.errors import remote_exception
from cairn.compute.executor import Executor
from cairn.compute.options import ExecutorOptions
from cairn.compute.registry import executor as make_executor

_shared: Executor | None = None
_shared_lock = threading.Lock()


def map(
    fn: Callable,
    items: Iterable,
    executor: Executor | ExecutorOptions | None = None,
    *,
    chunksize: int | None = None,
    progress: bool | None = None,
) -> list:
    """`[fn(item) for item in items]`, computed by `executor` (a local pool shared by the
    calls of this process by default).

    Every item runs even if some fail; then the first failure, in item order, is raised.
    The progress bar (done / total, rate, failures) shows when stderr is a terminal, or
    when `progress=True`.
    """
    shared = executor is None
    if shared:
        executor = shared_pool()
    arguments = [(item,) for item in items]
    chunks = executor.map_chunks(fn, arguments, chunksize)
    show = sys.stderr.isatty() if progress is None else progress
    try:
        outcomes = _collect(chunks, len(arguments), show, getattr(fn, "__name__", "map"))
    except BaseException as exc:  # Ctrl-C: what has not started never will
        for chunk in chunks:
            chunk.cancel()
        if shared and not isinstance(exc, Exception):  # nor what runs: the next call starts anew
            executor.terminate()
        raise
    for ok, value in outcomes:
        if not ok:
            raise remote_exception(*value)
    return [value for _, value in outcomes]


def shared_pool() -> Executor:
    """The local pool `cairn.map` uses when given no executor, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = make_executor("local")
        return _shared


def _forget_after_fork() -> None:
    # The parent's pool: its workers are the parent's (interpreter_exit disowns it).
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _collect(chunks: list, total: int, show: bool, label: str) -> list:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results: dict[int, list] = {}
    order = {id(chunk): i for i, chunk in enumerate(chunks)}
    failures = 0
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("[red]{task.fields[failures]} failed"),
        TimeElapsedColumn(),
    ]
    # On stderr, the stream whose terminal decides whether it shows: stdout stays the data's.
    with Progress(*columns, console=Console(stderr=True), disable=not show) as bar:
        job = bar.add_task(label, total=total, failures=0, rate="")
        for chunk in as_completed(chunks):
            outcomes = chunk.result()
            results[order[id(chunk)]] = outcomes
            failures += sum(not ok for ok, _ in outcomes)
            bar.update(job, advance=len(outcomes), failures=failures)
            # Rich has no rate until two updates apart in time: a format of it would fail.
            speed = bar.tasks[0].speed
            bar.update(job, rate="" if speed is None else f"{speed:,.0f}/s")
    return [outcome for i in range(len(chunks)) for outcome in results[i]]
