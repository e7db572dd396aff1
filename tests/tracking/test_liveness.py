"""A run whose process was killed reads as crashed without any read writing; a reap (a
writer's start, `cairn gc`) stores it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.states import RunStatus
from cairn.store import Store, schema
from cairn.tracking import liveness

LOITERER = """
import cairn, sys
run = cairn.start_run("loiterer", experiment="live")
run.log({"loss": 1.0})
run.flush()
print(run.id, flush=True)
sys.stdin.read()
"""


def _start_loiterer() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOITERER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, "the child died before its run was written"
    return proc, run_id


def _killed_run() -> str:
    proc, run_id = _start_loiterer()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return run_id


def _stored(store: Store, run_id: str) -> sa.Row:
    runs = schema.runs
    with store.reader() as conn:
        return conn.execute(
            sa.select(runs.c.status, runs.c.ended, runs.c.heartbeat).where(runs.c.id == run_id)
        ).one()


def _reap(store: Store) -> list[str]:
    with store.writer() as conn:
        return liveness.reap(conn)


def test_reads_of_a_killed_run_say_crashed_and_commit_nothing(workspace: Path) -> None:
    run_id = _killed_run()
    store = cairn.get_store()
    # data_version changes when any other connection, in any process, commits.
    watcher = sqlite3.connect(workspace / "cairn.db")
    before = watcher.execute("PRAGMA data_version").fetchone()

    record = cairn.get_run(run_id)
    assert record.status == RunStatus.CRASHED
    assert record.ended == _stored(store, run_id).heartbeat
    crashed = cairn.search_runs(filter="attributes.status = 'CRASHED'")
    assert [r.id for r in crashed] == [run_id]
    assert cairn.search_runs(filter="attributes.status = 'running'") == []
    listed = subprocess.run(
        [sys.executable, "-m", "cairn", "runs", "ls", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert '"status": "crashed"' in listed.stdout
    assert watcher.execute("PRAGMA data_version").fetchone() == before
    assert _stored(store, run_id).status == RunStatus.RUNNING.value

    assert _reap(store) == [run_id]
    assert watcher.execute("PRAGMA data_version").fetchone() != before
    row = _stored(store, run_id)
    assert (row.status, row.ended) == (RunStatus.CRASHED.value, row.heartbeat)
    assert _reap(store) == []  # stored once
    assert cairn.get_run(run_id).status == RunStatus.CRASHED
    watcher.close()


@pytest.fixture
def select_only_url(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The workspace's PostgreSQL database, and a URL of a role that may only SELECT in it."""
    monkeypatch.setenv("CAIRN_STORE", pg_url)
    monkeypatch.setenv("CAIRN_BLOBS", str(tmp_path / "blobs"))
    owner = cairn.get_store()
    role = f"cairn_reader_{uuid.uuid4().hex[:12]}"
    with owner.writer() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    scheme, rest = pg_url.split("://", 1)
    yield f"{scheme}://{role}@{rest.split('@', 1)[1]}"
    with owner.writer() as conn:
        conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        conn.exec_driver_sql(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_reads_of_a_killed_run_need_only_select_on_postgres(
    select_only_url: str, tmp_path: Path
) -> None:
    run_id = _killed_run()
    reader = Store(select_only_url, str(tmp_path / "blobs"))
    try:
        with pytest.raises(sa.exc.ProgrammingError), reader.writer() as conn:
            conn.execute(schema.runs.update().values(name="x"))  # the role cannot write
        assert cairn.get_run(run_id, store=reader).status == RunStatus.CRASHED
        found = cairn.search_runs(filter="attributes.status = 'crashed'", store=reader)
        assert [r.id for r in found] == [run_id]
        ordered = cairn.search_runs(order_by="attributes.status desc", store=reader)
        assert [r.status for r in ordered] == [RunStatus.CRASHED]
    finally:
        reader.engine.dispose()
    store = cairn.get_store()
    assert _stored(store, run_id).status == RunStatus.RUNNING.value
    assert _reap(store) == [run_id]
    assert _stored(store, run_id).status == RunStatus.CRASHED.value


def test_a_killed_process_not_yet_waited_for_is_dead(workspace: Path) -> None:
    proc, run_id = _start_loiterer()
    os.kill(proc.pid, signal.SIGKILL)
    # Until its parent waits for it, the process stays a zombie with its start time.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    try:
        assert cairn.get_run(run_id).status == RunStatus.CRASHED
    finally:
        proc.wait(timeout=30)


def test_a_live_process_keeps_its_run_running(workspace: Path) -> None:
    proc, run_id = _start_loiterer()
    try:
        assert cairn.get_run(run_id).status == RunStatus.RUNNING
        assert _reap(cairn.get_store()) == []
        assert cairn.search_runs(filter="attributes.status = 'running'")[0].id == run_id
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_another_hosts_run_is_judged_by_its_heartbeat(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "60")
    run = cairn.start_run("remote")
    store = cairn.get_store()
    with store.writer() as conn:
        conn.execute(
            schema.runs.update().where(schema.runs.c.id == run.id).values(host="elsewhere")
        )
    assert cairn.get_run(run.id).status == RunStatus.RUNNING  # it beat just now
    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "0")
    watcher = sqlite3.connect(workspace / "cairn.db")
    before = watcher.execute("PRAGMA data_version").fetchone()
    assert cairn.get_run(run.id).status == RunStatus.CRASHED
    assert watcher.execute("PRAGMA data_version").fetchone() == before
    watcher.close()
    assert _reap(store) == [run.id]
    run.end()


def test_a_view_of_the_past_shows_a_dead_run_running_until_its_last_heartbeat(
    workspace: Path,
) -> None:
    run_id = _killed_run()
    store = cairn.get_store()
    started = cairn.get_run(run_id).started
    with store.writer() as conn:  # as if it had beaten once more, 5 s in
        conn.execute(
            schema.runs.update().where(schema.runs.c.id == run_id).values(heartbeat=started + 5.0)
        )
    before = cairn.get_run(run_id, as_of=started + 1.0)
    assert (before.status, before.ended) == (RunStatus.RUNNING, None)
    after = cairn.get_run(run_id, as_of=started + 10.0)
    assert (after.status, after.ended) == (RunStatus.CRASHED, started + 5.0)
