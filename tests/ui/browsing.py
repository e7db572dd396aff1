"""Test helpers: the UI over a workspace on a loopback socket, and a few runs to show."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import cairn
from cairn.store import get_store
from cairn.ui import create_app
from tests.serve.serving import listening


@contextmanager
def ui_server(endpoints: tuple[str, ...] = (), *, auth: bool = False) -> Iterator[str]:
    """The UI over the current workspace, at the URL it yields."""
    with listening(create_app(get_store(), endpoints=endpoints, auth=auth)) as url:
        yield url


def log_runs(n: int = 3, experiment: str = "digits", steps: int = 20) -> list[str]:
    """`n` finished runs with params C and kind, and loss/acc curves; their ids, oldest
    first."""
    ids = []
    for i in range(n):
        with cairn.start_run(
            f"train-{i}", experiment=experiment, params={"C": 0.1 * (i + 1), "kind": "lr"}
        ) as run:
            for step in range(steps):
                run.log(
                    {"loss": math.exp(-step / (i + 2)), "acc": 1 - math.exp(-step / (i + 2))},
                    step=step,
                )
            ids.append(run.id)
    return ids
