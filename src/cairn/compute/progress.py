"""`cairn.map`: a function over items, in parallel, with a progress bar in a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from concurrent.futures import as_completed

from cairn.compute.errors import remote_exception
from cairn.compute.executor import Executor
from cairn.compute.registry import executor as make_executor


def map(
    fn: Callable,
    items: Iterable,
    executor: Executor | None = None,
    *,
    chunksize: int | None = None,
    progress: bool | None = None,
) -> list:
    """`[fn(item) for item in items]`, computed by `executor` (a local pool by default).

    Every item runs even if some fail; then the first failure, in item order, is raised.
    The progress bar (done / total, rate, failures) shows when stderr is a terminal, or
    when `progress=True`.
    """
    if executor is None:
        with make_executor() as own:
            return map(fn, items, own, chunksize=chunksize, progress=progress)
    arguments = [(item,) for item in items]
    chunks = executor.map_chunks(fn, arguments, chunksize)
    show = sys.stderr.isatty() if progress is None else progress
    try:
        outcomes = _collect(chunks, len(arguments), show, getattr(fn, "__name__", "map"))
    except BaseException:  # Ctrl-C: what has not started never will
        for chunk in chunks:
            chunk.cancel()
        raise
    for ok, value in outcomes:
        if not ok:
            raise remote_exception(*value)
    return [value for _, value in outcomes]


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
