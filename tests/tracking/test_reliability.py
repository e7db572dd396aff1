"""Many writers at once, and processes that die: nothing lost, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.store import schema

WRITER = """
import cairn, sys
with cairn.start_run(f"writer-{sys.argv[1]}", experiment="load") as run:
    for step in range(10_000):
        run.log({"m": float(step)}, step=step)
"""


def _concurrent_writers(n: int = 8) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(i)], stderr=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    ended = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    # The lines naming the error and its statement, which the short summary keeps whole.
    failed = [
        [line for line in err.splitlines() if "Error:" in line or line.startswith("[SQL")][-2:]
        for code, err in ended
        if code != 0
    ]
    assert not failed, failed
    runs = cairn.search_runs(experiment="load")
    assert len(runs) == n
    assert all(r.status == "finished" for r in runs)
    store = cairn.get_store()
    with store.reader() as conn:
        counts = dict(
            conn.execute(
                sa.select(schema.metrics.c.run_id, sa.func.count()).group_by(
                    schema.metrics.c.run_id
                )
            ).all()
        )
        distinct_steps = conn.execute(
            sa.select(sa.func.count(sa.distinct(schema.metrics.c.step)))
        ).scalar()
    assert sorted(counts.values()) == [10_000] * n
    assert distinct_steps == 10_000
    assert all(r.metrics == {"m": 9999.0} for r in runs)


@pytest.mark.slow
def test_eight_processes_log_into_one_sqlite_store(workspace: Path) -> None:
    cairn.get_store()  # the schema exists before the writers race to open it
    _concurrent_writers()


@pytest.mark.slow
def test_eight_processes_racing_to_create_the_store(workspace: Path) -> None:
    _concurrent_writers()


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_log_into_one_postgres_store(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_STORE", pg_url)
    monkeypatch.setenv("CAIRN_BLOBS", str(tmp_path / "blobs"))
    _concurrent_writers()


VICTIM = """
import cairn, numpy as np, sys
run = cairn.start_run("victim", experiment="crash")
for step in range(1000):
    run.log({"loss": float(step)}, step=step)
run.save("first", np.arange(1_000_000))
run.flush()
print(run.id, flush=True)
rng = np.random.default_rng(0)
step = 1000
while True:
    run.log({"loss": float(step)}, step=step)
    step += 1
    if step % 5000 == 0:
        run.save("more", rng.random(2_000_000))
"""


def test_sigkill_mid_logging_leaves_a_consistent_store(workspace: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", VICTIM], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    assert run_id, "the child died before it was ready"
    # Let it get into its save loop: wait until a second artifact is recorded.
    store = cairn.get_store()
    while _artifact_count(store, run_id) < 2:
        assert proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    record = cairn.get_run(run_id)
    assert record.status == "crashed"
    steps = [s for s, _, _ in record.metric_history("loss")]
    assert steps[:1000] == list(range(1000))  # everything flushed before the kill
    assert cairn.load(f"{run_id}/first").sum() == sum(range(1_000_000))
    for artifact in record.artifacts():  # every recorded blob is whole
        cairn.load(artifact)
    for digest, _ in store.blobs.digests():  # no visible file is half-written
        store.blobs.get(digest)
    assert cairn.search_runs(experiment="crash")[0].status == "crashed"


def _artifact_count(store, run_id: str) -> int:
    with store.reader() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(schema.artifacts.c.run_id == run_id)
        ).scalar()


TERMINATED = """
import cairn, sys
run = cairn.start_run("terminated", experiment="term")
for step in range(500):
    run.log({"x": float(step)}, step=step)
print(run.id, flush=True)
sys.stdin.read()
"""


def test_sigterm_flushes_and_marks_killed(workspace: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", TERMINATED], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    record = cairn.get_run(run_id)
    assert record.status == "killed"
    assert len(record.metric_history("x")) == 500


UNCAUGHT = """
import cairn
run = cairn.start_run("plain", experiment="uncaught")
run.log({"x": 1.0})
print(run.id, flush=True)
raise RuntimeError("boom")
"""

UNENDED = """
import cairn
run = cairn.start_run("plain", experiment="unended")
run.log({"x": 1.0})
print(run.id, flush=True)
"""


def test_process_exit_ends_open_runs(workspace: Path) -> None:
    failed = subprocess.run([sys.executable, "-c", UNCAUGHT], capture_output=True, text=True)
    assert failed.returncode == 1
    record = cairn.get_run(failed.stdout.strip())
    assert record.status == "failed" and "boom" in record.error
    finished = subprocess.run([sys.executable, "-c", UNENDED], capture_output=True, text=True)
    record = cairn.get_run(finished.stdout.strip())
    assert record.status == "finished" and record.metrics == {"x": 1.0}


def test_stale_heartbeat_from_another_host_is_crashed(workspace: Path) -> None:
    run = cairn.start_run("remote")
    store = cairn.get_store()
    with store.writer() as conn:
        conn.execute(
            schema.runs.update()
            .where(schema.runs.c.id == run.id)
            .values(host="elsewhere", heartbeat=1.0)
        )
    assert cairn.get_run(run.id).status == "crashed"
    with store.writer() as conn:  # a fresh heartbeat from elsewhere stays running
        conn.execute(
            schema.runs.update()
            .where(schema.runs.c.id == run.id)
            .values(status="running", heartbeat=time.time())
        )
    assert cairn.get_run(run.id).status == "running"
    run.end()
