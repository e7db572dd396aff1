"""A training killed with SIGKILL after a checkpoint resumes from it and ends as the
uninterrupted training of the same seed does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cairn
import cairn.rl
from cairn.errors import InvalidValueError, NotFoundError
from cairn.rl.checkpoints import CHECKPOINT, RESUMED_FROM, resumable_run
from cairn.store import get_store
from tests.conftest import ROOT
from tests.rl.test_es import outcomes

SETTINGS = dict(seed=3, population=10, iterations=8, checkpoint_every=2, noise_size=2**16,
                eval_episodes=10, center_episodes=2)  # fmt: skip

# Iterations 0-3 run, their checkpoints (after 2 and 4) are saved, then iteration 4 blocks
# in its callback: the kill finds the training between checkpoints, never at its end.
SCRIPT = f"""
import threading
import cairn.rl

def block_at_the_fifth(iteration):
    if iteration.number == 4:
        threading.Event().wait()

cairn.rl.es("CartPole-v1", executor="local", workers=1, experiment="resume", name="killed",
            on_iteration=block_at_the_fifth, **{SETTINGS!r})
"""
CHILD_DEADLINE_S = 240


def checkpoints_of_newest_run(experiment: str) -> tuple[str | None, int]:
    runs = cairn.search_runs(experiment)
    if not runs:
        return None, 0
    return runs[0].id, sum(a.name == CHECKPOINT for a in runs[0].artifacts())


def wait_for_checkpoints(child: subprocess.Popen, experiment: str, count: int) -> str:
    """The id of the child's run once it has saved `count` checkpoints, read from the store."""
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while True:
        run_id, saved = checkpoints_of_newest_run(experiment)
        if saved >= count:
            return run_id
        assert child.poll() is None, f"the training ended early:\n{child.stderr.read()}"
        assert time.monotonic() < deadline, "no checkpoint appeared in the store"
        threading.Event().wait(0.1)  # the next look at the store


def test_a_killed_training_resumes_from_its_last_checkpoint(workspace: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=workspace,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        killed = wait_for_checkpoints(child, "resume", 2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stderr.close()
    assert cairn.get_run(killed).status == "crashed"
    assert resumable_run(get_store(), "resume", "killed") == killed

    # On threads this time: the history does not depend on the executor.
    resumed = cairn.rl.es("CartPole-v1", executor="thread", workers=1, experiment="resume",
                          name="killed", resume=True, **SETTINGS)  # fmt: skip
    straight = cairn.rl.es("CartPole-v1", executor="thread", workers=1, experiment="straight",
                           **SETTINGS)  # fmt: skip
    assert outcomes(resumed) == outcomes(straight) and resumed.iterations == 8
    assert resumed.returns == straight.returns
    assert np.array_equal(resumed.policy.params, straight.policy.params)
    run = resumed.run
    assert run.status == "finished" and run.experiment == "resume"
    assert run.tags[RESUMED_FROM] == killed
    # The resumed run carries the whole curve, the killed run's iterations included.
    assert [step for step, _, _ in run.metric_history("return_mean")] == list(range(8))
    # Nothing is left to resume: the killed run was taken over by one that finished.
    assert resumable_run(get_store(), "resume", "killed") is None
    # It used the killed run's last checkpoint: the lineage leads back to the killed run.
    upstream = cairn.lineage(run.id)
    assert [n.label for n in upstream.artifacts()] == [f"{CHECKPOINT}:2"]
    assert f"run:{killed}" in upstream.nodes


def test_resuming_with_other_settings_or_without_a_checkpoint_is_refused(
    workspace: Path,
) -> None:
    done = cairn.rl.es("CartPole-v1", executor="thread", workers=1, **SETTINGS)
    with pytest.raises(InvalidValueError, match="population: 10 before, 12 now"):
        cairn.rl.es("CartPole-v1", executor="thread", resume=done.run.id,
                    **{**SETTINGS, "population": 12})  # fmt: skip
    with pytest.raises(InvalidValueError, match="env_id"):
        cairn.rl.es("Acrobot-v1", executor="thread", resume=done.run.id, **SETTINGS)
    with cairn.start_run("empty") as empty:
        pass
    with pytest.raises(NotFoundError, match="no checkpoint"):
        cairn.rl.es("CartPole-v1", executor="thread", resume=empty.id, **SETTINGS)
    with pytest.raises(NotFoundError):
        cairn.rl.es("CartPole-v1", executor="thread", resume="01NOSUCHRUN", **SETTINGS)
    assert len(cairn.search_runs()) == 2  # none of the refusals started a run


def test_a_finished_training_goes_on_for_more_iterations_when_named(workspace: Path) -> None:
    short = cairn.rl.es("CartPole-v1", executor="thread", workers=1, **{**SETTINGS,
                        "iterations": 3})  # fmt: skip
    longer = cairn.rl.es("CartPole-v1", executor="thread", workers=1, resume=short.run.id,
                         **{**SETTINGS, "iterations": 5})  # fmt: skip
    straight = cairn.rl.es("CartPole-v1", executor="thread", workers=1, **{**SETTINGS,
                           "iterations": 5})  # fmt: skip
    assert outcomes(longer)[:3] == outcomes(short)
    assert outcomes(longer) == outcomes(straight)
    # resume=True only takes runs that stopped early: with none, it starts afresh.
    fresh = cairn.rl.es("CartPole-v1", executor="thread", workers=1, resume=True,
                        **{**SETTINGS, "iterations": 2})  # fmt: skip
    assert RESUMED_FROM not in fresh.run.tags
    assert outcomes(fresh) == outcomes(straight)[:2]


def test_the_run_to_resume_is_the_newest_stopped_one_not_taken_over(workspace: Path) -> None:
    store = get_store()

    def stopped(tags: dict | None = None, checkpoint: bool = True) -> str:
        run = cairn.start_run("job", experiment="chain", tags=tags or {})
        if checkpoint:
            run.save(CHECKPOINT, {"state": 1}, kind="checkpoint")
        run.end("crashed")
        return run.id

    def finished(tags: dict) -> str:
        with cairn.start_run("job", experiment="chain", tags=tags) as run:
            return run.id

    assert resumable_run(store, "chain", "job") is None
    first = stopped()
    assert resumable_run(store, "chain", "job") == first
    second = stopped({RESUMED_FROM: first})
    assert resumable_run(store, "chain", "job") == second
    # A take-over that stopped before its first checkpoint leaves the one it took over.
    third = stopped({RESUMED_FROM: second}, checkpoint=False)
    assert resumable_run(store, "chain", "job") == second
    # One that finished closes the chain, all the way back.
    finished({RESUMED_FROM: third})
    assert resumable_run(store, "chain", "job") is None
    assert resumable_run(store, "chain", "other") is None
