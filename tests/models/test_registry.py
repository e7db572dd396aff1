"""The registry: versions, references, aliases and their history, gates on moves, owners,
archival, audit, lineage; bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

import cairn
from cairn import models
from cairn.errors import (
    FlavorError,
    GateRefusedError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
)
from cairn.store import get_store, schema
from tests.conftest import ROOT

X = np.random.default_rng(0).normal(size=(60, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def fitted(c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c).fit(X, Y)


def row_counts() -> dict[str, int]:
    tables = ("models", "model_versions", "model_aliases", "alias_moves", "model_gates",
              "events", "artifacts", "hooks", "model_tags")  # fmt: skip
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
    before = row_counts()
    with pytest.raises(GateRefusedError) as refused:
        models.set_alias("digits", "production", 1)
    assert len(refused.value.reasons) == 2
    assert "not on a Friday" in str(refused.value)
    after = row_counts()
    assert after["model_aliases"] == before["model_aliases"] == 0
    assert after["alias_moves"] == 0
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
    with pytest.raises(InvalidValueError, match="archived"):
        models.set_alias("digits", "production", 2)


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
    with pytest.raises(InvalidValueError, match="dataset"):
        models.register("digits", fitted(), owner="alice")


MOVER = """
import sys, cairn
from cairn import models
for i in range(int(sys.argv[1])):
    models.set_alias("digits", "production", 1 + (i + int(sys.argv[2])) % 2)
"""


def test_two_processes_moving_one_alias_leave_one_consistent_history(backend: str) -> None:
    models.register("digits", fitted(1.0), owner="alice")
    models.register("digits", fitted(0.1), owner="alice")
    movers = [
        subprocess.Popen([sys.executable, "-c", MOVER, "15", str(k)], env=_env(),
                         stderr=subprocess.PIPE, text=True)
        for k in (0, 1)
    ]  # fmt: skip
    for mover in movers:
        _, err = mover.communicate(timeout=300)
        assert mover.returncode == 0, err
    history = models.alias_history("digits", "production")
    assert len(history) == 30
    for earlier, later in zip(history, history[1:], strict=False):
        assert later.previous == earlier.version  # no move lost or interleaved
    assert history[0].previous is None
    assert models.get_version("digits@production").version == history[-1].version
