"""A run written inside the caller's transaction, ended inside it, attached to from a task,
and output captured through the public method: no callbacks into tracking."""

from __future__ import annotations

import sqlalchemy as sa

import cairn
from cairn.errors import InvalidValueError
from cairn.states import RunStatus
from cairn.store import get_store, schema
from cairn.tracking.start import attach_run


def _count(table: sa.Table) -> int:
    with get_store().reader() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_run_started_in_a_rolled_back_transaction_does_not_exist(backend: str) -> None:
    store = get_store()
    parent = cairn.start_run("parent")
    try:
        with store.writer() as conn:
            cairn.start_run("child", parent=parent, capture=False, activate=False, conn=conn)
            raise KeyError("the caller's other write failed")
    except KeyError:
        pass
    with store.reader() as conn:
        names = conn.execute(sa.select(schema.runs.c.name)).scalars().all()
    assert names == ["parent"]
    parent.end()


def test_start_and_end_share_the_callers_commit(backend: str) -> None:
    store = get_store()
    parent = cairn.start_run("study")
    with store.writer() as conn:
        run = cairn.start_run(
            "trial", params={"x": 1}, parent=parent, capture=False, activate=False, conn=conn
        )
        conn.execute(schema.tags.insert(), {"run_id": run.id, "key": "mine", "value": "1"})
    run.log({"loss": 0.5})
    with run.ending(RunStatus.PRUNED) as conn:
        conn.execute(schema.tags.insert(), {"run_id": run.id, "key": "outcome", "value": "p"})
    record = cairn.get_run(run.id)
    assert record.status == "pruned"
    assert record.metrics == {"loss": 0.5}
    assert record.tags == {"mine": "1", "outcome": "p"} and record.params == {"x": 1}
    parent.end()


def test_an_end_rolled_back_with_the_callers_write_leaves_the_run_running(backend: str) -> None:
    run = cairn.start_run("r")
    run.log({"loss": 0.5})
    try:
        with run.ending(RunStatus.FAILED):
            raise KeyError("the caller's own write failed")
    except KeyError:
        pass
    record = cairn.get_run(run.id)
    assert record.status == "running" and record.metrics == {"loss": 0.5}
    assert cairn.active_run() is run
    run.log({"loss": 0.25})  # still open: it can log and end again
    run.end()
    assert cairn.get_run(run.id).status == "finished"
    assert cairn.get_run(run.id).metrics == {"loss": 0.25}


def test_a_run_inside_the_callers_transaction_must_take_its_parents_records(
    backend: str,
) -> None:
    with get_store().writer() as conn:
        try:
            cairn.start_run("orphan", conn=conn)
        except InvalidValueError as e:
            assert "capture=False" in str(e)
        else:
            raise AssertionError("accepted")
    assert _count(schema.runs) == 0


def test_end_refuses_a_state_that_is_not_final(backend: str) -> None:
    run = cairn.start_run("r")
    for bad in ("running", "done"):
        try:
            run.end(bad)
        except InvalidValueError as e:
            assert "finished" in str(e)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    run.end("pruned")
    assert cairn.get_run(run.id).status == "pruned"


def test_attach_run_makes_a_foreign_run_active_and_leaves_it_open(backend: str) -> None:
    owner = cairn.start_run("owner", activate=False)
    with attach_run(get_store(), owner.id, owner.name, owner.experiment, None) as attached:
        assert cairn.active_run() is attached
        cairn.active_run().log({"from_task": 1.0})
        with cairn.start_run("child") as child:
            assert child.parent_id == owner.id
    assert cairn.active_run() is None
    assert cairn.get_run(owner.id).metrics == {"from_task": 1.0}  # flushed by the block's end
    assert cairn.get_run(owner.id).status == "running"
    owner.end()


def test_capture_output_is_a_public_method(backend: str, capsys) -> None:
    with cairn.start_run("talk") as run:
        print("before")  # not captured: capture starts below
        run.capture_output()
        print("hello out")
    assert cairn.load(f"{run.id}/stdout") == "hello out\n"
    assert _count(schema.artifacts) == 2
