"""Tasks submitted inside a run log into it and open child runs, from any backend."""

from __future__ import annotations

import cairn
from tests.compute.helpers import log_from_task


def test_tasks_open_child_runs_and_log_into_the_callers_run(ex, workspace):
    with cairn.start_run("parent") as parent:
        futures = [ex.submit(log_from_task, i) for i in range(3)]
        child_ids = [f.result(timeout=120) for f in futures]
        seen_by_map = list(ex.map(log_from_task, [3]))
    for child_id in [*child_ids, *seen_by_map]:
        child = cairn.get_run(child_id)
        assert child.parent_id == parent.id
        assert child.status == "finished"
        assert len(child.metric_history("loss")) == 100
    record = cairn.get_run(parent.id)
    assert record.metrics == {f"from_task_{i}": float(i) for i in range(4)}


def test_tasks_outside_a_run_log_nothing(ex, workspace):
    assert list(ex.map(len, ["ab", "c"])) == [2, 1]
    assert cairn.search_runs() == []
