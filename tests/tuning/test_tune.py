"""cairn.tune end to end: trials as runs, pruning, failures, asynchrony, grids, bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.errors import NotFoundError
from cairn.store import get_store, schema
from tests.tuning.objectives import flaky, no_curve, quadratic

SPACE = {"x": cairn.uniform(0, 1)}


def _children(run_id: str) -> list[cairn.RunRecord]:
    return [r for r in cairn.search_runs() if r.parent_id == run_id]


def test_every_trial_is_a_child_run_with_its_params_and_curve(backend: str) -> None:
    result = cairn.tune(
        quadratic, {**SPACE, "k": 3}, "score", "max", n_trials=10,
        executor="thread", sampler="random", scheduler=None, name="plain", seed=0,
    )  # fmt: skip
    assert len(result.records) == 10
    assert [r.state for r in result.records] == ["completed"] * 10
    study_run = cairn.get_run(result.study_run_id)
    assert study_run.status == "finished" and study_run.tags["cairn.study"] == "plain"
    children = {r.id: r for r in _children(result.study_run_id)}
    assert set(children) == {r.run_id for r in result.records}
    for record in result.records:
        run = children[record.run_id]
        assert run.status == "finished"
        assert run.params == {"x": record.params["x"], "k": 3}
        assert run.metrics["score"] == pytest.approx(record.value)  # latest = the trial's value
        history = cairn.get_run(run.id).metric_history("score")
        # eight reports, then the returned value, which differs from the last report
        assert [step for step, _, _ in history] == list(range(9))
        assert history[-1][1] == pytest.approx(record.value)
    best = max(result.records, key=lambda r: r.value)
    assert result.best_params == best.params
    assert result.best_value == best.value
    assert result.best_run.id == best.run_id
    frame = result.trials
    assert list(frame["number"]) == list(range(10))
    assert {"state", "value", "run_id", "seconds", "steps", "params.x", "params.k"} <= set(frame)
    assert (frame["steps"] == 9).all()


def test_a_scheduler_prunes_poor_trials_and_the_search_still_finds_the_optimum(
    workspace: Path,
) -> None:
    result = cairn.tune(
        quadratic, SPACE, "score", "max", n_trials=40,
        executor="thread", sampler="tpe", scheduler="asha", seed=1,
    )  # fmt: skip
    pruned = [r for r in result.records if r.state == "pruned"]
    assert pruned, "ASHA stopped no trial"
    for record in pruned:
        run = cairn.get_run(record.run_id)
        assert run.status == "pruned"
        assert len(run.metric_history("score")) < 8  # stopped before the end of its curve
        assert record.value == run.metrics["score"]  # its last report
    assert abs(result.best_params["x"] - 0.3) < 0.1


def test_a_failing_trial_is_recorded_and_the_study_goes_on(workspace: Path) -> None:
    result = cairn.tune(
        flaky, SPACE, "score", "max", n_trials=24,
        executor="thread", sampler="random", scheduler=None, seed=3,
    )  # fmt: skip
    by_state: dict[str, list] = {}
    for record in result.records:
        by_state.setdefault(record.state, []).append(record)
    assert len(result.records) == 24
    assert by_state["completed"] and by_state["failed"]
    for record in by_state["failed"]:
        run = cairn.get_run(record.run_id)
        assert run.status == "failed"
        x = record.params["x"]
        expected = "diverged" if x < 0.25 else "returned nothing" if x < 0.5 else "NaN"
        assert expected in run.error
    assert all(r.params["x"] >= 0.75 for r in by_state["completed"])
    assert result.best_value == max(r.value for r in by_state["completed"])


def test_a_dict_result_logs_every_metric(workspace: Path) -> None:
    result = cairn.tune(
        no_curve, SPACE, "score", "max", n_trials=3, executor="thread", scheduler=None
    )
    run = result.best_run
    assert set(run.metrics) == {"score", "extra", "side"}
    assert run.metrics["score"] == pytest.approx(result.best_value)


def test_workers_never_wait_for_each_other(workspace: Path) -> None:
    """Trial 0 holds one of two workers until three later trials have finished on the other
    one: a tuner that waited for a rung or a batch would never get there."""
    finished = threading.Semaphore(0)

    def objective(trial):
        if trial.number == 0:
            for _ in range(3):
                assert finished.acquire(timeout=60), "other trials did not run meanwhile"
            return 1.0
        finished.release()
        return 0.0

    result = cairn.tune(
        objective, SPACE, "score", "max", n_trials=6,
        executor=cairn.executor("thread", workers=2), scheduler=None, max_concurrent=2,
    )  # fmt: skip
    first = result.records[0]
    later = [r for r in result.records[1:4]]
    assert first.state == "completed"
    # Trials 1 and 2 were settled before trial 3 could start; trial 3's release and its own
    # settling race with trial 0's end, so it is only known to have started before.
    assert all(r.ended < first.ended for r in later[:2])
    assert all(r.started < first.ended for r in later)


def test_a_grid_tries_every_combination(workspace: Path) -> None:
    space = {"a": cairn.grid([1, 2, 3]), "b": cairn.grid(["x", "y"]), "c": cairn.uniform(0, 1)}
    result = cairn.tune(
        lambda t: t.params["a"] + t.params["c"], space, "v", "max",
        executor="thread", scheduler=None,
    )  # fmt: skip
    assert len(result.records) == 6
    assert {(r.params["a"], r.params["b"]) for r in result.records} == {
        (a, b) for a in (1, 2, 3) for b in "xy"
    }


def test_a_function_space_gives_conditional_params(workspace: Path) -> None:
    def space(t):
        if t.choice("kind", ["lin", "quad"]) == "quad":
            t.uniform("x", 0, 1)

    result = cairn.tune(
        lambda t: -((t.params.get("x", 0.0) - 0.3) ** 2), space, "v", "max", n_trials=12,
        executor="thread", scheduler=None, sampler="random", seed=2,
    )  # fmt: skip
    for record in result.records:
        expected = {"kind", "x"} if record.params["kind"] == "quad" else {"kind"}
        assert set(record.params) == expected


def test_callbacks_see_each_trial_as_it_ends(workspace: Path) -> None:
    seen = []
    cairn.tune(
        quadratic, SPACE, "score", "max", n_trials=5, executor="thread",
        scheduler=None, callbacks=[seen.append],
    )  # fmt: skip
    assert sorted(r.number for r in seen) == list(range(5))
    assert all(r.state == "completed" and r.ended is not None for r in seen)


def test_trials_run_in_worker_processes(workspace: Path) -> None:
    result = cairn.tune(
        quadratic, SPACE, "score", "max", n_trials=12, executor="local",
        scheduler="asha", sampler="random", seed=4,
    )  # fmt: skip
    assert len(result.records) == 12
    assert all(r.state in ("completed", "pruned") for r in result.records)
    assert all(len(cairn.get_run(r.run_id).metric_history("score")) for r in result.records)


@pytest.mark.ray
def test_trials_run_on_ray_unchanged(workspace: Path, ray_cluster: None) -> None:
    with cairn.executor("ray") as ex:
        result = cairn.tune(
            quadratic, SPACE, "score", "max", n_trials=10, executor=ex,
            scheduler="asha", sampler="tpe", seed=5,
        )  # fmt: skip
    assert len(result.records) == 10
    assert result.count("completed") >= 1
    assert all(r.state in ("completed", "pruned") for r in result.records)
    assert cairn.get_run(result.best_trial.run_id).metrics["score"] == result.best_value


def _studies_written() -> int:
    with get_store().reader() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.studies)).scalar()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "best"}, "mode must be 'max' or 'min', got 'best'"),
        ({"space": {}}, "space is empty"),
        ({"n_trials": 0}, "n_trials must be a positive integer"),
        ({"n_trials": None}, "give n_trials, a time_budget"),
        ({"time_budget": -1}, "time_budget must be a positive"),
        ({"sampler": "bogus"}, "unknown sampler 'bogus'"),
        ({"scheduler": "bogus"}, "unknown scheduler 'bogus'"),
        ({"max_concurrent": 0}, "max_concurrent must be a positive"),
        ({"metric": "a/b"}, "metric name"),
        ({"objective": 3}, "objective must be a function"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    workspace: Path, kwargs: dict, message: str
) -> None:
    call = {"objective": quadratic, "space": SPACE, "metric": "score", "mode": "max"}
    call.update({"n_trials": 3, "executor": "thread"})
    call.update(kwargs)
    with pytest.raises(cairn.CairnError, match=message):
        cairn.tune(**call)
    assert _studies_written() == 0
    assert cairn.search_runs() == []


def test_a_name_reused_with_another_space_is_refused_unless_resume_is_off(
    workspace: Path,
) -> None:
    cairn.tune(quadratic, SPACE, "score", "max", n_trials=2, executor="thread", name="s")
    other = {"x": cairn.uniform(0, 2)}
    runs_before = len(cairn.search_runs())
    with pytest.raises(cairn.StudyMismatchError, match="resume=False"):
        cairn.tune(quadratic, other, "score", "max", n_trials=2, executor="thread", name="s")
    assert len(cairn.search_runs()) == runs_before
    with pytest.raises(cairn.StudyMismatchError, match="mode 'max'"):
        cairn.tune(quadratic, SPACE, "score", "min", n_trials=2, executor="thread", name="s")
    again = cairn.tune(
        quadratic, other, "score", "max", n_trials=2, executor="thread", name="s", resume=False
    )
    assert again.study.version == 2 and len(again.records) == 2
    assert cairn.tuning.load_result(get_store(), "s", 1).study.fingerprint != (
        again.study.fingerprint
    )


def test_the_best_of_a_study_without_a_completed_trial_says_so(workspace: Path) -> None:
    result = cairn.tune(
        lambda t: None, SPACE, "score", "max", n_trials=2, executor="thread", scheduler=None
    )
    assert result.count("failed") == 2
    with pytest.raises(NotFoundError, match="no completed trial"):
        _ = result.best_params


def test_an_objective_that_cannot_reach_the_workers_is_refused_up_front(workspace: Path) -> None:
    lock = threading.Lock()

    def objective(trial):
        with lock:
            return 0.0

    with pytest.raises(cairn.CairnError, match="cannot be sent to worker processes"):
        cairn.tune(objective, SPACE, "v", "max", n_trials=2, executor="local")
    assert _studies_written() == 0
    result = cairn.tune(objective, SPACE, "v", "max", n_trials=2, executor="thread")
    assert result.count("completed") == 2


def test_the_progress_bar_shows_done_running_pruned_failed_and_best(
    workspace: Path, capsys: pytest.CaptureFixture
) -> None:
    result = cairn.tune(
        quadratic, SPACE, "score", "max", n_trials=6, executor="thread",
        scheduler=None, progress=True, name="shown",
    )  # fmt: skip
    captured = capsys.readouterr()
    out = captured.err
    assert "tune shown" not in captured.out  # stdout stays the data's
    assert "tune shown" in out and "6/6" in out
    assert "0 running" in out and "0 pruned" in out and "0 failed" in out
    assert f"best {result.best_value:.4g}" in out
