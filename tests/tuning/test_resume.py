"""A search killed with SIGKILL and started again under its name goes on where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

import cairn
from tests.conftest import ROOT

# Trials 0-3 finish; from trial 4 on they block, so the kill finds some running.
SCRIPT = """
import threading, cairn

def objective(trial):
    if trial.number >= 4:
        threading.Event().wait()
    return -(trial.params["x"] - 0.3) ** 2

def announce(record):
    print("ended", record.number, flush=True)

cairn.tune(objective, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=8,
           executor="thread", max_concurrent=2, name="resumable", sampler="random",
           scheduler=None, callbacks=[announce])
"""


class RecordingSampler(optuna.samplers.RandomSampler):
    """Notes how many completed trials the study held each time it drew a value."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.completed_seen: list[int] = []

    def sample_independent(self, study, trial, name, distribution):
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.completed_seen.append(len(done))
        return super().sample_independent(study, trial, name, distribution)


def _run_until_four_trials_ended_then_kill(cwd: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        ended = set()
        for line in child.stdout:
            ended.add(int(line.split()[1]))
            if len(ended) == 4:
                break
        assert ended == {0, 1, 2, 3}
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()


def test_a_killed_search_resumes_without_rerunning_finished_trials(workspace: Path) -> None:
    _run_until_four_trials_ended_then_kill(workspace)
    before = cairn.tuning.load_result(cairn.get_store(), "resumable")
    finished_before = {r.number: r for r in before.records if r.state == "completed"}
    assert set(finished_before) == {0, 1, 2, 3}
    assert {r.state for r in before.records if r.number >= 4} == {"running"}

    executed: list[int] = []

    def objective(trial):
        executed.append(trial.number)
        return -((trial.params["x"] - 0.3) ** 2)

    sampler = RecordingSampler()
    result = cairn.tune(
        objective, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=8,
        executor="thread", name="resumable", sampler=sampler, scheduler=None,
    )  # fmt: skip

    assert result.resumed == 4
    assert result.count("completed") == 8
    assert len(executed) == 4  # only the trials still owed
    assert min(executed) > max(r.number for r in before.records)
    for number, old in finished_before.items():
        again = next(r for r in result.records if r.number == number)
        assert (again.run_id, again.value, again.params) == (old.run_id, old.value, old.params)
    crashed = [r for r in result.records if r.state == "crashed"]
    assert crashed and all(r.number >= 4 for r in crashed)
    assert all(cairn.get_run(r.run_id).status == "crashed" for r in crashed)
    # The sampler was told about the earlier trials before it drew anything new.
    assert sampler.completed_seen[0] == 4
    first_study_run = cairn.get_run(before.records[0].run_id).parent_id
    assert cairn.get_run(first_study_run).status == "crashed"
    assert result.study_run_id != first_study_run
