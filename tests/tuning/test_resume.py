"""A search killed with SIGKILL and started again under its name goes on where it stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

import optuna
from optuna.trial import TrialState

import cairn
from cairn import tuning
from tests.conftest import ROOT

# Trials 0-3 finish; from trial 4 on they announce themselves and block, so the kill finds
# some running.
SCRIPT = """
import sys, threading, cairn

def objective(trial):
    if trial.number >= 4:
        # One write per line: print writes the text and the newline apart, so two trial
        # threads printing at once could run their lines together.
        sys.stdout.write(f"started {trial.number}\\n"); sys.stdout.flush()
        threading.Event().wait()
    return -(trial.params["x"] - 0.3) ** 2

def announce(record):
    sys.stdout.write(f"ended {record.number}\\n"); sys.stdout.flush()

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


def _run_until_four_trials_ended_and_one_blocks_then_kill(cwd: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        seen: dict[str, set[int]] = {"ended": set(), "started": set()}
        for line in child.stdout:
            for event, number in re.findall(r"(ended|started) (\d+)", line):
                seen[event].add(int(number))
            if len(seen["ended"]) == 4 and seen["started"]:
                break
        assert seen["ended"] == {0, 1, 2, 3}
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()


def test_a_killed_search_resumes_without_rerunning_finished_trials(workspace: Path) -> None:
    _run_until_four_trials_ended_and_one_blocks_then_kill(workspace)
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


class FirstDrawSampler(optuna.samplers.RandomSampler):
    """Keeps the params of the completed trials the study held at its first draw."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.replayed: list[dict] | None = None

    def sample_independent(self, study, trial, name, distribution):
        if self.replayed is None:
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            self.replayed = [dict(t.params) for t in done]
        return super().sample_independent(study, trial, name, distribution)


EVERY_KIND = {
    "n": tuning.lograndint(1, 1024),
    "k": cairn.randint(0, 20, step=5),
    "q": tuning.qrandint(0, 100, 25),
    "x": tuning.quniform(0, 1, 0.1),
    "y": cairn.uniform(0, 1, step=0.25),
    "z": tuning.randn(3, 2),
    "c": cairn.choice(["a", "b"]),
}


def test_every_kind_of_space_round_trips_through_resume(workspace: Path) -> None:
    def objective(trial):
        return trial.params["z"] + trial.params["n"]

    first = cairn.tune(
        objective, EVERY_KIND, "v", "max", n_trials=5, executor="thread", name="kinds",
        sampler="random", scheduler=None, seed=0,
    )  # fmt: skip
    assert first.count("completed") == 5
    sampler = FirstDrawSampler()
    again = cairn.tune(
        objective, dict(EVERY_KIND), "v", "max", n_trials=8, executor="thread", name="kinds",
        sampler=sampler, scheduler=None,
    )  # fmt: skip
    assert again.resumed == 5 and again.study.version == 1  # the same space, continued
    assert again.study.fingerprint == first.study.fingerprint
    assert again.count("completed") == 8
    # The sampler was told every earlier trial in its own terms: randn as the normal's
    # quantile u, the others as drawn.
    assert sampler.replayed is not None and len(sampler.replayed) == 5
    for drawn in sampler.replayed:
        z = NormalDist(3, 2).inv_cdf(drawn.pop("z"))
        same = [r.params for r in first.records if abs(r.params["z"] - z) < 1e-9]
        assert len(same) == 1
        assert drawn == {k: v for k, v in same[0].items() if k != "z"}


def test_a_function_space_of_every_kind_is_drawn_and_resumed(workspace: Path) -> None:
    def space(t):
        t.randint("n", 1, 1024, log=True)
        t.uniform("x", 0, 1, step=0.1)
        t.randn("z", 0, 1)
        t.qrandint("q", 0, 10, 5)

    def objective(trial):
        return -abs(trial.params["z"])

    first = cairn.tune(objective, space, "v", "max", n_trials=4, executor="thread",
                       name="fn-kinds", scheduler=None, seed=0)  # fmt: skip
    again = cairn.tune(objective, space, "v", "max", n_trials=10, executor="thread",
                       name="fn-kinds", scheduler=None)  # fmt: skip
    assert again.resumed == 4 and again.study.fingerprint == first.study.fingerprint
    assert again.count("completed") == 10
    for record in again.records:
        params = record.params
        assert isinstance(params["n"], int) and 1 <= params["n"] <= 1023
        assert params["x"] == round(params["x"], 1) and params["q"] in (0, 5, 10)
        assert set(record.distributions) == {"n", "x", "z", "q"}
        assert cairn.get_run(record.run_id).params == params
