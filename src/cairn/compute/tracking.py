"""Tasks inside a run: a worker process opens the caller's run, so tasks log into it.

At submission the caller's active run is captured with the URLs of its workspace. In the
worker the run becomes the active one while the task runs: `cairn.start_run("child")`
makes a child of it and `cairn.active_run().log(...)` logs to it. Before the task's result
is sent back, everything the task logged is flushed, so no metric is lost when the caller
reads the run right after the result arrives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunContext:
    run_id: str
    name: str
    experiment: str
    parent_id: str | None
    store_url: str
    blobs_url: str


def capture() -> RunContext | None:
    from cairn.tracking import active

    run = active.current()
    if run is None:
        return None
    store = run.store
    return RunContext(
        run.id,
        run.name,
        run.experiment,
        run.parent_id,
        store.engine.url.render_as_string(hide_password=False),
        store.blobs.url,
    )


def run_inside(context: RunContext, fn: Callable, *args: object) -> object:
    # The store is per process and found from the environment, as in the caller.
    os.environ["CAIRN_STORE"] = context.store_url
    os.environ["CAIRN_BLOBS"] = context.blobs_url
    from cairn.store import get_store
    from cairn.tracking import active
    from cairn.tracking.run import Run
    from cairn.tracking.writer import flush_all, writer_for

    store = get_store()
    run = Run(
        store,
        context.run_id,
        context.name,
        context.experiment,
        context.parent_id,
        writer_for(store),
    )
    active.push(run)
    try:
        return fn(*args)
    finally:
        active.forget(run)  # the caller ends its run, not the worker
        flush_all()
