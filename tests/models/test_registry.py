"""The registry: versions, references, aliases and their history, gates on moves, owners,
archival, audit, lineage; bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

import cairn
from cairn import models
from cairn.errors import (
    CairnError,
    FlavorError,
    GateRefusedError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
    VersionContentionError,
)
from cairn.models.versions import lock_model
from cairn.store import Store, get_store, reset_store, schema
from tests.conftest import ROOT

X = np.random.default_rng(0).normal(size=(60, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def fitted(c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c).fit(X, Y)


def row_counts() -> dict[str, int]:
    tables = ("models", "model_versions", "model_aliases", "alias_moves", "model_gates",
              "events", "artifacts", "hooks", "hook_deliveries", "model_tags", "blobs")  # fmt: skip
    with get_store().reader() as conn:
        return {
            t: conn.execute(
                sa.select(sa.func.count()).select_from(schema.metadata.tables[t])
            ).scalar()
            for t in tables
        }


def test_versions_count_up_and_identical_bytes_return_the_same_version(workspace: Path) -> None:
    model = fitted()
    v1 = models.register("digits", model, owner="alice", example=X[:5])
    v1_again = models.register("digits", model, owner="alice", example=X[:5])
    v2 = models.register("digits", fitted(0.1), description="less regularized")
    assert (v1.version, v1_again.version, v2.version) == (1, 1, 2)
    assert v1.flavor == "sklearn" and v2.owner == "alice"
    assert v1.signature is not None and v1.example is not None
    assert models.get_version("digits@latest").version == 2
    assert models.get_version("digits").version == 2
    assert models.get_version("digits/1") == v1
    info = models.get_model("digits")
    assert (info.owner, info.versions, info.latest) == ("alice", 2, 2)
    loaded = models.load("digits/1")
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))


def test_a_model_version_is_an_artifact_in_lineage_with_its_run_and_data(
    workspace: Path,
) -> None:
    cairn.datasets.save("train", {"X": X, "y": Y})
    with cairn.start_run("train", params={"C": 0.5}) as run:
        data = cairn.datasets.load("train")
        version = models.register("digits", fitted(0.5), owner="alice")
    assert version.run_id == run.id
    graph = cairn.lineage(version)
    names = {n.label for n in graph.nodes.values()}
    assert run.id in graph.nodes.get(f"run:{run.id}").id
    assert "train" in " ".join(names)
    out = subprocess.run(
        [sys.executable, "-m", "cairn", "lineage", "digits/1"],
        capture_output=True, text=True, cwd=workspace, env=_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert run.id[-8:] in out.stdout or run.id in out.stdout
    assert "train:1" in out.stdout and "C=0.5" in out.stdout
    assert data["X"].shape == X.shape


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def test_inside_a_run_loading_records_the_use(workspace: Path) -> None:
    version = models.register("digits", fitted(), owner="alice")
    with cairn.start_run("score") as run:
        models.load("digits@latest")
    graph = cairn.lineage(version, direction="down")
    assert f"run:{run.id}" in graph.nodes


def test_aliases_move_with_history_and_as_of_reads_where_they_pointed(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    first = models.set_alias("digits", "production", 1, reason="first release")
    middle = dt.datetime.fromtimestamp(first.ts + 1e-3)
    second = models.set_alias("digits", "production", 2)
    assert (first.previous, first.version, second.previous, second.version) == (None, 1, 1, 2)
    assert models.get_version("digits@production").version == 2
    assert models.get_version("digits@production", as_of=middle).version == 1
    assert models.get_version("digits/2").aliases == ("production",)
    gone = models.delete_alias("digits", "production", reason="retired")
    assert (gone.previous, gone.version) == (2, None)
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        models.get_version("digits@production")
    assert models.get_version("digits@production", as_of=middle).version == 1
    history = models.alias_history("digits", "production")
    assert [(m.previous, m.version) for m in history] == [(None, 1), (1, 2), (2, None)]
    assert history[0].reason == "first release" and history[0].actor
    actions = [e.action for e in models.history("digits")]
    assert actions.count("alias.set") == 2 and actions.count("alias.delete") == 1
    assert actions.count("register") == 2


def test_the_audit_event_is_written_with_the_change(workspace: Path) -> None:
    models.register("digits", fitted(), owner="alice")
    models.transfer("digits", "team-ml", reason="reorg")
    models.set_tag("digits", "stage", "beta")
    models.set_tag("digits", "stage", "beta")  # no change, no event
    events = models.history("digits")
    transfer = next(e for e in events if e.action == "transfer")
    assert transfer.detail == {"before": "alice", "after": "team-ml", "reason": "reorg"}
    assert [e.action for e in events].count("tag.set") == 1
    assert models.get_model("digits").owner == "team-ml"
    assert models.get_model("digits").tags == {"stage": "beta"}


def test_gates_refuse_with_every_reason_and_force_records_the_override(backend: str) -> None:
    models.register("digits", fitted(), owner="alice", example=X[:5])
    models.add_gate("digits", "production", models.gates.custom(
        "tests.models.gate_functions:refuse", why="not on a Friday"))  # fmt: skip
    models.add_gate("digits", "production", models.gates.owner_active(days=0))
    before, events_before = row_counts(), len(models.history("digits"))
    with pytest.raises(GateRefusedError) as refused:
        models.set_alias("digits", "production", 1)
    assert len(refused.value.reasons) == 2
    assert "not on a Friday" in str(refused.value)
    # The refusal moves nothing, but every gate run is audited: two gate.run events, and no
    # alias row, no alias_moves row, no alias.set event, no delivery.
    after = row_counts()
    assert after["model_aliases"] == before["model_aliases"] == 0
    assert after["alias_moves"] == 0
    assert after == {**before, "events": before["events"] + 2}
    new = models.history("digits")[events_before:]
    assert [e.action for e in new] == ["gate.run", "gate.run"]
    assert [e.detail["result"]["passed"] for e in new] == [False, False]
    with pytest.raises(InvalidValueError, match="give the reason"):
        models.set_alias("digits", "production", 1, force=True)
    move = models.set_alias("digits", "production", 1, force=True, reason="hotfix, CTO approved")
    assert len(move.overridden) == 2
    override = [e for e in models.history("digits") if e.action == "gate.override"]
    assert override and override[0].detail["reason"] == "hotfix, CTO approved"
    assert len(override[0].detail["gates"]) == 2
    assert models.get_version("digits@production").version == 1


def test_a_gate_that_passes_lets_the_alias_move(workspace: Path) -> None:
    models.register("digits", fitted(), owner="alice", example=X[:5])
    models.add_gate("digits", "staging", models.gates.signature_unchanged())
    move = models.set_alias("digits", "staging", 1)
    assert move.version == 1 and [r.passed for r in move.results] == [True]
    assert [r.alias for r in models.list_gates("digits")] == ["staging"]
    runs = [e for e in models.history("digits") if e.action == "gate.run"]
    assert runs and runs[0].detail["result"]["passed"] is True


def test_a_version_an_alias_points_to_cannot_be_archived(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    models.set_alias("digits", "production", 2)
    with pytest.raises(InvalidValueError, match="production"):
        models.archive("digits", 2)
    assert models.get_version("digits/2").archived is None
    archived = models.archive("digits", 1)
    assert archived.archived is not None
    models.delete_alias("digits", "production")
    models.archive("digits", 2)
    with pytest.raises(NotFoundError, match="no version that is not archived"):
        models.get_version("digits@latest")
    with pytest.raises(InvalidValueError, match="`cairn models unarchive digits 2`"):
        models.set_alias("digits", "production", 2)


def test_an_archived_version_comes_back_with_unarchive(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    archived = models.archive("digits", 2)
    assert models.get_version("digits@latest").version == 1

    back = models.unarchive("digits", 2)
    assert models.unarchive("digits", 2) == back  # already back: nothing recorded

    assert back.archived is None and models.get_version("digits@latest").version == 2
    events = [e for e in models.history("digits") if e.subject == "model/digits/2"]
    assert [e.action for e in events] == ["register", "archive", "unarchive"]
    assert events[-1].detail == {"before": {"archived": archived.archived},
                                 "after": {"archived": None}}  # fmt: skip
    assert models.set_alias("digits", "production", 2).version == 2


def guard(function: str, **arguments: object) -> None:
    """Guard digits@production with `function` of tests/models/gate_functions.py."""
    gate = models.gates.custom(f"tests.models.gate_functions:{function}", **arguments)
    models.add_gate("digits", "production", gate)


def abandoned() -> list[str | None]:
    """Why each gate run of digits led nowhere, oldest first (None: its move went ahead)."""
    return [e.detail.get("abandoned") for e in models.history("digits") if e.action == "gate.run"]


def test_a_version_archived_while_gates_run_gets_no_alias(workspace: Path) -> None:
    models.register("digits", fitted(), owner="alice")
    guard("archives_the_candidate")

    with pytest.raises(InvalidValueError, match="digits/1 is archived"):
        models.set_alias("digits", "production", 1)

    assert models.alias_history("digits") == []
    assert abandoned() == ["the version was archived while the gates ran"]


def test_moving_an_alias_where_it_points_writes_nothing(workspace: Path) -> None:
    models.register("digits", fitted(), owner="alice", example=X[:5])
    first = models.set_alias("digits", "production", 1)
    guard("refuse", why="never")
    before = row_counts()

    again = models.set_alias("digits", "production", "1", reason="again")

    assert again == first and again.results == ()
    assert row_counts() == before  # no gate run, no move, no event, no delivery


def test_a_gate_added_while_gates_run_is_run_before_the_move(workspace: Path) -> None:
    models.register("digits", fitted(), owner="alice")
    guard("adds_a_refusing_gate")

    with pytest.raises(GateRefusedError, match="added while gates ran"):
        models.set_alias("digits", "production", 1)

    assert models.alias_history("digits") == []
    assert abandoned() == ["the alias's gates changed while they ran", None, None]


def test_a_round_that_lost_the_race_is_audited_and_run_again(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    models.set_alias("digits", "production", 1)
    guard("deletes_the_alias")

    move = models.set_alias("digits", "production", 2)

    # The first round judged a move from version 1, which was deleted meanwhile; the second
    # judged the move from nothing, and made it.
    assert (move.previous, move.version) == (None, 2)
    history = models.alias_history("digits", "production")
    assert [(m.previous, m.version) for m in history] == [(None, 1), (1, None), (None, 2)]
    assert abandoned() == ["another writer moved the alias while the gates ran", None]


def test_orphans_are_idle_models_and_unused_versions(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    models.set_alias("digits", "production", 2)
    later = get_store()  # the clock moves, the store does not
    found = models.orphans(days=30, now=dt.datetime.now().timestamp() + 31 * 86_400, store=later)
    assert {(o.kind.value, str(o)) for o in found} == {("model", "digits"), ("version", "digits/1")}
    assert models.orphans(days=30) == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: models.register("new", fitted()), InvalidValueError, "give its owner"),
        (lambda: models.register("m", fitted(), owner=" "), InvalidValueError, "owner"),
        (lambda: models.register("n", fitted(), owner="a", flavor="nope"), FlavorError, "nope"),
        (lambda: models.register("n", object(), owner="a"), FlavorError, "object"),
        (lambda: models.register("m/x", fitted(), owner="a"), InvalidNameError, "separator"),
        (
            lambda: models.register("n", fitted(), owner="a", example=np.zeros((2, 7))),
            InvalidValueError,
            "example does not fit",
        ),
        (lambda: models.set_alias("m", "prod/x", 1), InvalidNameError, "separator"),
        (lambda: models.set_alias("m", "prod@x", 1), InvalidNameError, "'@'"),
        (lambda: models.set_alias("m", "latest", 1), InvalidNameError, "newest"),
        (lambda: models.set_alias("m", "prod", 9), NotFoundError, "no version 9"),
        (lambda: models.set_alias("nope", "prod", 1), NotFoundError, "no model 'nope'"),
        (lambda: models.archive("m", 3), NotFoundError, "no version 3"),
        (lambda: models.get_version("m/zero"), InvalidValueError, "a number"),
        (lambda: models.transfer("m", ""), InvalidValueError, "owner"),
        (lambda: models.transfer("m", "bob\n"), InvalidValueError, "control character"),
        (lambda: models.register("a@b", fitted(), owner="a"), InvalidNameError, "'@'"),
        (lambda: models.get_model("a@b"), InvalidNameError, "'@'"),
        (lambda: models.register("n", fitted(), owner="a\tb"), InvalidValueError, "control"),
        (lambda: models.register("n", fitted(), owner=7), InvalidValueError, "owner"),
        (
            lambda: models.register("n", fitted(), owner="a", description=None),
            InvalidValueError,
            "description must be text",
        ),
        (
            lambda: models.register("n", fitted(), owner="a", tags=["x"]),
            InvalidValueError,
            "tags must be a mapping",
        ),
        (lambda: models.delete_alias("m", "prod", reason=3), InvalidValueError, "reason"),
        (lambda: models.register("m", fitted(), owner="bob"), InvalidValueError, "transfer"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    workspace: Path, call, error: type, message: str
) -> None:
    models.register("m", fitted(2.0), owner="alice")
    before = row_counts()
    with pytest.raises(error, match=message):
        call()
    assert row_counts() == before


def test_a_name_taken_by_a_dataset_is_refused(workspace: Path) -> None:
    cairn.datasets.save("digits", X)
    before = row_counts()
    with pytest.raises(InvalidValueError, match="dataset"):
        models.register("digits", fitted(), owner="alice", example=X[:3])
    assert row_counts() == before  # not even the payload's blobs


def test_orphans_compare_model_names_exactly(workspace: Path, monkeypatch) -> None:
    # "_" is a LIKE wildcard: alice acting on aXb must not count as acting on a_b.
    monkeypatch.setenv("CAIRN_USER", "registrar")
    models.register("a_b", fitted(1.0), owner="alice")
    monkeypatch.setenv("CAIRN_USER", "alice")
    models.register("aXb", fitted(0.1), owner="alice")
    cutoff = models.get_model("aXb").created

    found = models.orphans(days=0, now=cutoff)

    assert [o.name for o in found if o.kind == "model"] == ["a_b"]


def test_a_refusal_by_the_database_is_not_taken_for_contention(workspace: Path) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    with get_store().writer() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER frozen BEFORE INSERT ON model_versions "
            "BEGIN SELECT RAISE(ABORT, 'versions are frozen'); END"
        )
    before = row_counts()

    with pytest.raises(CairnError, match="refused the new version.*versions are frozen") as error:
        models.register("digits", fitted(0.1))

    assert not isinstance(error.value, VersionContentionError)
    assert {k: v for k, v in row_counts().items() if k != "blobs"} == {
        k: v for k, v in before.items() if k != "blobs"
    }


def test_long_names_and_owners_are_refused_before_the_database_sees_them(backend: str) -> None:
    # PostgreSQL would refuse them with a DataError: events.subject and models.owner hold
    # 255 characters, and "model/NAME/VERSION" must fit.
    longest = "m" * 200
    assert models.register(longest, fitted(), owner="o" * 255).name == longest
    assert models.get_version(f"{longest}/1").version == 1
    before = row_counts()
    with pytest.raises(InvalidNameError, match="longer than 200"):
        models.register("m" * 201, fitted(), owner="alice")
    with pytest.raises(InvalidValueError, match="longer than 255"):
        models.register("other", fitted(), owner="o" * 256)
    with pytest.raises(InvalidValueError, match="longer than 255"):
        models.transfer(longest, "o" * 256)
    assert row_counts() == before


MOVER = """
import sys, cairn
from cairn import models
for i in range(int(sys.argv[1])):
    move = models.set_alias("digits", "production", 1 + (i + int(sys.argv[2])) % 2)
    print(move.id)
"""


def test_two_processes_moving_one_alias_leave_one_consistent_history(backend: str) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    movers = [
        subprocess.Popen([sys.executable, "-c", MOVER, "15", str(k)], env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in (0, 1)
    ]  # fmt: skip
    returned = set()
    for mover in movers:
        out, err = mover.communicate(timeout=300)
        assert mover.returncode == 0, err
        returned |= {int(line) for line in out.split()}
    history = models.alias_history("digits", "production")
    # A move to where the alias already points writes nothing and returns the last move, so
    # every call returned a move of the history, and every move of it was some call's.
    assert {move.id for move in history} == returned
    assert 2 <= len(history) <= 30
    for earlier, later in zip(history, history[1:], strict=False):
        assert later.previous == earlier.version != later.version  # none lost or interleaved
    assert history[0].previous is None
    assert models.get_version("digits@production").version == history[-1].version


# --- PostgreSQL: writers of one model take turns on its row lock -------------------------------

WAIT_S = 30  # bound on every wait below; reached only when something is broken


@pytest.fixture
def postgres(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("CAIRN_STORE", pg_url)
    monkeypatch.setenv("CAIRN_BLOBS", str(tmp_path / "blobs"))
    monkeypatch.chdir(tmp_path)
    reset_store()
    yield get_store()
    reset_store()


def wait_for_row_lock_waiters(store: Store, count: int, threads: list[threading.Thread]) -> None:
    """Until `count` connections wait for a row lock (SELECT ... FOR UPDATE) or a thread has
    ended (it did not wait)."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
    )
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with store.reader() as conn:
            if conn.execute(waiting).scalar() >= count:
                return
        if any(not thread.is_alive() for thread in threads):
            return
        threads[0].join(0.01)
    raise AssertionError(f"{count} writer(s) never waited for the model's lock")


def in_threads(calls: list) -> tuple[list[threading.Thread], list]:
    """A thread per call, not started; the list each call's return value or error joins."""
    outcomes: list = []

    def run(call) -> None:
        try:
            outcomes.append(call())
        except Exception as exc:
            outcomes.append(exc)

    return [threading.Thread(target=run, args=(call,)) for call in calls], outcomes


@pytest.mark.postgres
def test_identical_bytes_registered_at_once_become_one_version(postgres: Store) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    model = fitted(0.1)
    threads, outcomes = in_threads([lambda: models.register("digits", model)] * 2)
    with postgres.writer() as conn:
        # Both registrations looked for these bytes, found none, and wait here to insert.
        lock_model(conn, "digits")
        for thread in threads:
            thread.start()
        wait_for_row_lock_waiters(postgres, 2, threads)
    for thread in threads:
        thread.join(WAIT_S)

    assert [getattr(o, "version", o) for o in outcomes] == [2, 2]
    assert [v.version for v in models.list_versions("digits")] == [1, 2]


@pytest.mark.postgres
def test_archiving_waits_for_an_alias_move_in_flight(postgres: Store) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    threads, outcomes = in_threads([lambda: models.archive("digits", 2)])
    with postgres.writer() as conn:
        # What a move does under the model's lock: point the alias at version 2.
        lock_model(conn, "digits")
        conn.execute(
            schema.model_aliases.insert().values(
                name="digits", alias="production", version=2, updated=time.time()
            )
        )
        threads[0].start()
        wait_for_row_lock_waiters(postgres, 1, threads)
    threads[0].join(WAIT_S)

    (refused,) = outcomes
    assert isinstance(refused, InvalidValueError) and "production" in str(refused)
    assert models.get_version("digits/2").archived is None
