"""A writer's start is one of the places a derived crash is stored (reads never store it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import sqlalchemy as sa

import cairn
from cairn.store import get_store, reset_store, schema

SCRIPT = """
import os, sys, cairn
run = cairn.start_run("doomed")
run.flush()
print(run.id, flush=True)
sys.stdin.read()
"""


def _stored_status(run_id: str) -> str:
    with get_store().reader() as conn:
        return conn.execute(
            sa.select(schema.runs.c.status).where(schema.runs.c.id == run_id)
        ).scalar_one()


def test_the_first_run_a_process_starts_stores_the_crash_of_a_killed_one(workspace) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    run_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdin.close()
    child.stdout.close()
    reset_store()  # as a new process would: this one has not started a run on this store yet
    assert cairn.get_run(run_id).status == "crashed"  # derived
    assert _stored_status(run_id) == "running"  # the read wrote nothing
    with cairn.start_run("next"):
        pass
    assert _stored_status(run_id) == "crashed"
