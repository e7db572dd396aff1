"""The run a task logs into: a worker process opens the caller's run, so tasks log into it.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.store import Store
    from cairn.tracking.run import Run


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
    return None if run is None else context_of(run)


def context_of(run: Run) -> RunContext:
    """What another process needs to log into `run`."""
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
    """`fn(*args)` with the run of `context` as the active run; the caller ends its run, not
    the worker."""
    from cairn.tracking.start import attach_run

    store = store_of(context)
    with attach_run(store, context.run_id, context.name, context.experiment, context.parent_id):
        return fn(*args)


def store_of(context: RunContext) -> Store:
    """The store the caller logs to: the one already open in this process if it is (a thread
    of the caller), else opened from its URLs, which later `get_store()` calls find too."""
    from cairn.store import get_store, open_stores

    for store in open_stores():
        if (store.engine.url.render_as_string(hide_password=False), store.blobs.url) == (
            context.store_url,
            context.blobs_url,
        ):
            return store
    os.environ["CAIRN_STORE"] = context.store_url
    os.environ["CAIRN_BLOBS"] = context.blobs_url
    return get_store()
