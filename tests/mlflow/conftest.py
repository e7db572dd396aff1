"""Each test starts with no active run, no active experiment and autologging off, whatever
the one before it left."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cairn.mlflow import autologging, experiments, runs
from cairn.tracking import active


@pytest.fixture(autouse=True)
def fresh_mlflow_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(experiments, "_active", None)
    monkeypatch.setattr(runs, "_last_run_id", None)
    yield
    while active.current() is not None:
        active.current().end("killed")
    autologging.sklearn_autolog(disable=True)
