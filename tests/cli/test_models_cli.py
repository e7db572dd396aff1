"""`cairn models ...` as a user runs it: a real process, tables at 80 columns, JSON, exit
codes, and refusals that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cairn import models
from tests.cli.test_cli import cli

X = np.random.default_rng(1).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


@pytest.fixture
def registry(workspace: Path) -> Path:
    for c in (1.0, 0.1, 0.01):
        models.register("digits", LogisticRegression(C=c).fit(X, Y), owner="alice",
                        example=X[:3], description=f"C={c}")  # fmt: skip
    models.set_alias("digits", "staging", 2)
    models.add_gate("digits", "production", models.gates.owner_active(days=0))
    return workspace


def test_ls_show_and_history_read_like_tables_at_80_columns(registry: Path) -> None:
    out = cli("models", "ls", cwd=registry, width=80)
    assert out.returncode == 0, out.stderr
    assert "digits" in out.stdout and "alice" in out.stdout and "staging->2" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    show = cli("models", "show", "digits", cwd=registry, width=80)
    assert show.returncode == 0 and show.stdout.count("sklearn") == 3
    one = cli("models", "show", "digits", "staging", "--json", cwd=registry)
    data = json.loads(one.stdout)
    assert data["version"] == 2 and data["aliases"] == ["staging"]
    assert data["signature"]["inputs"]
    history = cli("models", "history", "digits", cwd=registry, width=80)
    assert history.returncode == 0 and "register" in history.stdout
    assert "alias.set" in history.stdout and "gate.add" in history.stdout


def test_promote_refuses_on_a_failing_gate_then_forces_with_a_reason(registry: Path) -> None:
    refused = cli("models", "promote", "digits", "3", "production", cwd=registry)
    assert refused.returncode == 1
    assert "refused by 1 of 1 gate(s)" in refused.stderr and "--force" in refused.stderr
    assert "production" not in cli("models", "ls", cwd=registry).stdout
    no_reason = cli("models", "promote", "digits", "3", "production", "--force", cwd=registry)
    assert no_reason.returncode == 1 and "reason" in no_reason.stderr
    forced = cli("models", "promote", "digits", "3", "production", "--force",
                 "--reason", "incident 42", cwd=registry)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert "nothing -> version 3" in forced.stdout and "incident 42" in forced.stdout
    assert models.get_version("digits@production").version == 3


def test_transfer_archive_gates_and_orphans(registry: Path) -> None:
    assert cli("models", "transfer", "digits", "team-ml", cwd=registry).returncode == 0
    assert models.get_model("digits").owner == "team-ml"
    busy = cli("models", "archive", "digits", "2", cwd=registry)
    assert busy.returncode == 1 and "staging" in busy.stderr
    assert cli("models", "archive", "digits", "1", cwd=registry).returncode == 0
    back = cli("models", "unarchive", "digits", "1", cwd=registry)
    assert back.returncode == 0 and "digits/1 is not archived" in back.stdout
    assert models.get_version("digits/1").archived is None
    assert models.history("digits")[-1].action == "unarchive"
    gates = json.loads(cli("models", "gates", "digits", "--json", cwd=registry).stdout)
    assert [g["gate"]["kind"] for g in gates] == ["owner_active"]
    orphans = json.loads(cli("models", "orphans", "--days", "0", "--json", cwd=registry).stdout)
    assert {(o["kind"], o["version"]) for o in orphans} >= {("version", 3)}


def test_hooks_refuse_a_url_that_is_not_http(registry: Path) -> None:
    out = cli("models", "hooks", "add", "ftp://example.com/x", cwd=registry)
    assert out.returncode == 1 and "http" in out.stderr
    assert models.list_hooks() == []
    added = cli("models", "hooks", "add", "http://127.0.0.1:9/hook", "--events", "alias",
                cwd=registry)  # fmt: skip
    assert added.returncode == 0 and "secret" in added.stdout
    listed = json.loads(cli("models", "hooks", "ls", "--json", cwd=registry).stdout)
    assert listed[0]["url"] == "http://127.0.0.1:9/hook" and listed[0]["events"] == ["alias"]


def test_lineage_of_a_model_version_and_unknown_names(registry: Path) -> None:
    out = cli("lineage", "digits@staging", cwd=registry)
    assert out.returncode == 0 and "digits:2" in out.stdout
    missing = cli("models", "show", "nope", cwd=registry)
    assert missing.returncode == 1 and "cairn models ls" in missing.stderr
    assert cli("models", "show", "digits", "9", cwd=registry).returncode == 1
