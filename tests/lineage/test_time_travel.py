"""cairn.as_of: runs, metrics, artifacts and datasets as they were."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import cairn


def test_store_as_it_was(backend: str) -> None:
    with cairn.start_run("old", experiment="tt") as old:
        old.log({"acc": 0.5}, step=0)
        old.save("model", "v1")
    cairn.datasets.save("ds", [1])
    run = cairn.start_run("growing", experiment="tt")
    run.log({"acc": 0.6}, step=0)
    run.flush()
    # as_of takes a datetime, which keeps microseconds: the next metric must be logged in a
    # later microsecond than the moment, or the view would rightly include it.
    moment = dt.datetime.now()
    while time.time() <= moment.timestamp() + 1e-6:
        pass
    run.log({"acc": 0.9}, step=1)
    run.end()
    with cairn.start_run("later", experiment="tt") as later:
        later.save("model", "v2")
    cairn.datasets.save("ds", [1, 2])

    then = cairn.as_of(moment)
    assert {r.name for r in then.search_runs(experiment="tt")} == {"old", "growing"}
    growing = then.get_run(run.id)
    assert growing.status == "running" and growing.ended is None
    assert growing.metrics == {"acc": 0.6}
    assert [v for _, v, _ in growing.metric_history("acc")] == [0.6]
    assert [r.name for r in then.search_runs(filter="metrics.acc > 0.55")] == ["growing"]
    assert then.load("model") == "v1"
    assert then.load_dataset("ds") == [1]
    assert cairn.get_run(run.id).metrics == {"acc": 0.9}  # the present is unchanged
    with pytest.raises(cairn.NotFoundError):
        then.get_run(later.id)


def test_as_of_before_the_store_is_an_error(backend: str) -> None:
    with pytest.raises(cairn.CairnError, match="before this store existed"):
        cairn.as_of(dt.datetime(1999, 1, 1))
    with pytest.raises(cairn.CairnError, match="not an ISO date"):
        cairn.as_of("yesterday-ish")
