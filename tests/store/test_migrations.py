"""A store made by an older schema is upgraded in place, its data intact."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.store import Store, reset_store
from cairn.store.database import HEAD_REVISION, create_engine, current_revision, migrate


def _make_old_store(url: str) -> None:
    engine = create_engine(url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO experiments (id, name, created) VALUES (1, 'old', 0)")
        conn.exec_driver_sql(
            "INSERT INTO runs (id, experiment_id, name, status, started, ended) "
            "VALUES ('01OLDRUN000000000000000000', 1, 'legacy', 'finished', 1, 2)"
        )
        conn.exec_driver_sql(
            "INSERT INTO runs (id, experiment_id, name, status, started, ended) "
            "VALUES ('01OLDUSER00000000000000000', 1, 'user', 'finished', 3, 4)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO blobs (digest, size, codec, meta, created) VALUES ('{'a' * 64}', 1, "
            "'pickle.zstd', '{}', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO artifacts (id, run_id, name, version, digest, kind, created) VALUES "
            f"(7, '01OLDRUN000000000000000000', 'data', 1, '{'a' * 64}', 'artifact', 1.5)"
        )
        conn.exec_driver_sql(
            "INSERT INTO run_inputs (run_id, artifact_id) VALUES ('01OLDUSER00000000000000000', 7)"
        )
        for step, value in [(0, 0.5), (1, 0.7), (2, 0.6)]:
            conn.exec_driver_sql(
                "INSERT INTO metrics (run_id, key, step, value, ts) "
                f"VALUES ('01OLDRUN000000000000000000', 'acc', {step}, {value}, {step})"
            )
    engine.dispose()


def _check_upgraded(url: str, blobs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(url, blobs)
    assert current_revision(store.engine) == HEAD_REVISION
    store.engine.dispose()
    monkeypatch.setenv("CAIRN_STORE", url)
    monkeypatch.setenv("CAIRN_BLOBS", blobs)
    reset_store()
    record = cairn.get_run("01OLDRUN000000000000000000")
    assert (record.name, record.experiment, record.status) == ("legacy", "old", "finished")
    assert record.metrics == {"acc": 0.6}  # derived by the migration from the history
    graph = cairn.lineage("01OLDUSER00000000000000000")  # run_inputs became lineage edges
    assert graph.edges == [
        ("artifact:7", "run:01OLDRUN000000000000000000", "wasGeneratedBy"),
        ("run:01OLDUSER00000000000000000", "artifact:7", "used"),
    ]
    assert cairn.as_of(1.0).get_run("01OLDRUN000000000000000000").status == "running"
    with cairn.start_run("new", experiment="old") as run:  # and the store takes new runs
        run.log({"acc": 0.9})
    assert {r.name for r in cairn.search_runs(experiment="old")} == {"legacy", "user", "new"}


def test_sqlite_store_from_0001_is_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _make_old_store(url)
    _check_upgraded(url, str(tmp_path / "blobs"), monkeypatch)


@pytest.mark.postgres
def test_postgres_store_from_0001_is_upgraded(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _make_old_store(pg_url)
    _check_upgraded(pg_url, str(tmp_path / "blobs"), monkeypatch)


def test_schema_version_is_recorded(workspace: Path) -> None:
    engine = cairn.get_store().engine
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            HEAD_REVISION
        )


def _open_new_stores(folder: str, count: int, barrier, problems) -> None:
    """Open `count` new SQLite files, each at the same moment as the other processes."""
    for i in range(count):
        barrier.wait()
        try:
            engine = create_engine(f"sqlite:///{folder}/{i}.db")
            with engine.connect() as conn:
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            engine.dispose()
            if mode != "wal":
                problems.put(f"{i}.db is in {mode} mode")
        except Exception as exc:  # each failure is reported, not just the first
            problems.put(f"{i}.db: {exc!r}")


def test_processes_opening_a_new_sqlite_file_at_once_all_get_it_in_wal_mode(
    tmp_path: Path,
) -> None:
    # Switching a new file to WAL reads its header, then writes it; two processes doing
    # that at once can get "database is locked" at once, busy timeout or not (1 opening
    # in 20 failed so with 8 processes when each switched on its own).
    context = multiprocessing.get_context("spawn")
    processes, files = 8, 120
    barrier, problems = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_open_new_stores, args=(str(tmp_path), files, barrier, problems))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0] * processes
    found = []
    while not problems.empty():
        found.append(problems.get())
    assert found == []
