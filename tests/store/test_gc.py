"""`cairn gc`: unreferenced blobs go, referenced ones stay loadable, and runs whose process
is gone are stored as crashed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import sqlalchemy as sa

import cairn
from cairn.states import RunStatus
from cairn.store import schema
from cairn.store.gc import collect


def test_gc_removes_only_unreferenced_blobs(workspace: Path) -> None:
    store = cairn.get_store()
    with cairn.start_run("keep") as run:
        kept = run.save("kept", np.arange(1000))
    loose = store.put_value(np.ones(5000))  # recorded, but no artifact uses it
    just_recorded = store.put_value(np.ones(7))  # as a code record before its run row
    with store.writer() as conn:  # `loose` was recorded long ago
        conn.execute(
            schema.blobs.update().where(schema.blobs.c.digest == loose).values(created=1.0)
        )
    orphan = store.blobs.put(b"a file whose row was never written")
    old = 1_000_000.0
    os.utime(store.blobs.path(orphan), (old, old))
    fresh_orphan = store.blobs.put(b"a write in flight right now")

    report = collect(store, dry_run=True)
    assert [d for d, _ in report.unreferenced] == [loose]
    assert report.orphans == [orphan]
    assert store.blobs.exists(loose)  # a dry run changes nothing

    collect(store)
    assert not store.blobs.exists(loose) and not store.blobs.exists(orphan)
    assert store.blobs.exists(fresh_orphan)
    np.testing.assert_array_equal(store.get_value(just_recorded), np.ones(7))
    np.testing.assert_array_equal(cairn.load(kept), np.arange(1000))
    env_ref = cairn.get_run(run.id).env_ref
    assert store.blobs.exists(env_ref)
    assert collect(store, dry_run=True).unreferenced == []


def _gc(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "gc", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_cairn_gc_stores_crashed_for_runs_whose_process_is_gone(workspace: Path) -> None:
    store = cairn.get_store()
    lost = "import cairn, os; print(cairn.start_run('lost').id, flush=True); os._exit(0)"
    run_id = subprocess.run(
        [sys.executable, "-c", lost], capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()  # left running by a process that ended without a word
    runs = schema.runs
    loose = store.put_value(np.ones(100))
    with store.writer() as conn:  # recorded long ago, so past gc's grace period
        conn.execute(
            schema.blobs.update().where(schema.blobs.c.digest == loose).values(created=1.0)
        )

    def stored() -> tuple[str, float | None]:
        with store.reader() as conn:
            return tuple(
                conn.execute(
                    sa.select(runs.c.status, runs.c.ended).where(runs.c.id == run_id)
                ).one()
            )

    started = cairn.get_run(run_id).started

    dry = _gc("--dry-run")
    assert dry["crashed"] == [run_id] and [d for d, _ in dry["unreferenced"]] == [loose]
    assert stored() == (RunStatus.RUNNING.value, None)  # a dry run writes nothing

    reaped = _gc("--reap-only")
    assert reaped["crashed"] == [run_id] and reaped["unreferenced"] == []
    assert stored() == (RunStatus.CRASHED.value, started)  # ended at its last heartbeat
    assert store.blobs.exists(loose)

    again = _gc()
    assert again["crashed"] == [] and [d for d, _ in again["unreferenced"]] == [loose]
    assert not store.blobs.exists(loose)
