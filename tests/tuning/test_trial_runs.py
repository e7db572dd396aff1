"""A trial's run and its row are written together, and what is read back are enums."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.errors import InvalidValueError
from cairn.states import Direction, RunStatus, TrialState
from cairn.store import get_store, schema
from cairn.tuning import studies
from cairn.tuning.trial_runs import end_trial_run, start_trial_run
from tests.tuning.objectives import quadratic


def _study() -> studies.Study:
    proposed = studies.Study(0, "s", 0, "v", Direction.MIN, "random", "none", "{}", "f", 0.0)
    return studies.open_study(get_store(), proposed, resume=True)[0]


def _record(number: int) -> studies.TrialRecord:
    return studies.TrialRecord(
        number, TrialState.RUNNING, None, {"x": 0.5}, {}, "", time.time(), None
    )


def test_a_trial_whose_row_cannot_be_written_leaves_no_run(workspace: Path) -> None:
    study = _study()
    with cairn.start_run("study") as study_run:
        first = start_trial_run(get_store(), study, study_run, _record(0))
        with pytest.raises(sa.exc.IntegrityError):  # trial 0 exists: the row is refused
            start_trial_run(get_store(), study, study_run, _record(0))
        children = [r for r in cairn.search_runs() if r.parent_id == study_run.id]
        assert [r.id for r in children] == [first.id]  # the second run was rolled back too
        record = _record(0)
        record.run_id, record.state, record.value = first.id, TrialState.PRUNED, 0.25
        record.ended = time.time()
        end_trial_run(first, study, record, None)
    stored = studies.load_trials(get_store(), study)
    assert [(r.state, r.value) for r in stored] == [(TrialState.PRUNED, 0.25)]
    assert cairn.get_run(first.id).status == RunStatus.PRUNED


def test_states_and_modes_are_read_back_as_enums_and_stored_as_text(workspace: Path) -> None:
    result = cairn.tune(quadratic, {"x": cairn.uniform(0, 1)}, "score", "min", n_trials=3,
                        executor="thread", scheduler=None, name="enums")  # fmt: skip
    assert result.study.mode is Direction.MIN
    assert all(r.state is TrialState.COMPLETED for r in result.records)
    loaded = cairn.tuning.load_result(get_store(), "enums")
    assert loaded.study.mode is Direction.MIN
    assert {r.state for r in loaded.records} == {TrialState.COMPLETED}
    assert loaded.best_value == min(r.value for r in loaded.records)  # min: the smallest
    assert list(loaded.trials["state"]) == ["completed"] * 3
    with get_store().reader() as conn:
        assert conn.execute(sa.select(schema.studies.c.mode)).scalar_one() == "min"
        assert set(conn.execute(sa.select(schema.trials.c.state)).scalars()) == {"completed"}
    assert result.count("completed") == result.count(TrialState.COMPLETED) == 3
    with pytest.raises(InvalidValueError, match="no trial state 'done'; one of running"):
        result.count("done")
