"""The `cairn` command, run as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.store import schema


def cli(*args: str, cwd: Path | None = None, width: int = 200) -> subprocess.CompletedProcess:
    """`cairn ARGS` in a terminal `width` columns wide."""
    env = {**os.environ, "COLUMNS": str(width)}
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def two_runs(workspace: Path) -> tuple[str, str]:
    ids = []
    for c, acc in [(0.1, 0.8), (1.0, 0.9)]:
        with cairn.start_run("fit", experiment="exp", params={"C": c}) as run:
            run.log({"acc": acc})
            run.save("model", np.full(10, c))
        ids.append(run.id)
    return ids[0], ids[1]


def test_init_creates_a_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_STORE", raising=False)
    monkeypatch.delenv("CAIRN_BLOBS", raising=False)
    result = cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".cairn" / "cairn.db").exists() and (tmp_path / ".cairn" / "blobs").is_dir()
    assert cli("runs", "ls", cwd=tmp_path / ".cairn").returncode == 0  # found from below


def test_no_workspace_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_STORE", raising=False)
    monkeypatch.delenv("CAIRN_BLOBS", raising=False)
    result = cli("gc", cwd=tmp_path)
    assert result.returncode == 1 and "cairn init" in result.stderr


def test_runs_ls_table_and_json(two_runs: tuple[str, str]) -> None:
    table = cli("runs", "ls", "--experiment", "exp", "--sort", "metrics.acc desc")
    assert table.returncode == 0, table.stderr
    assert "2 run(s)" in table.stdout and "acc" in table.stdout
    assert table.stdout.index("0.9") < table.stdout.index("0.8")
    listed = json.loads(cli("runs", "ls", "--json", "--filter", "params.C > 0.5").stdout)
    assert [r["id"] for r in listed] == [two_runs[1]]
    assert listed[0]["metrics"] == {"acc": 0.9}


def test_runs_show_and_diff(two_runs: tuple[str, str]) -> None:
    a, b = two_runs
    shown = cli("runs", "show", a[-10:])
    assert shown.returncode == 0, shown.stderr
    for text in ("params", "metrics", "artifacts", "model", "environment", "Python"):
        assert text in shown.stdout
    diff = json.loads(cli("runs", "diff", a, b, "--json").stdout)
    assert diff["params"] == {"C": [0.1, 1.0]} and diff["metrics"] == {"acc": [0.8, 0.9]}
    assert diff["packages"] == {} and diff["code_diff"] == ""
    assert "params" in cli("runs", "diff", a, b).stdout


def test_runs_show_prints_an_error_with_brackets_as_it_is(workspace: Path) -> None:
    with pytest.raises(KeyError), cairn.start_run("fit", experiment="exp") as run:
        raise KeyError("[/] and [bold]x[/bold] are the user's text")
    shown = cli("runs", "show", run.id)
    assert shown.returncode == 0, shown.stderr
    assert 'KeyError: "[/] and [bold]x[/bold] are the user\'s text"' in shown.stdout


def test_values_that_look_like_markup_print_as_they_are(workspace: Path) -> None:
    with cairn.start_run("fit", experiment="exp", params={"act": "[relu]"}) as run:
        run.log({"acc": 0.5})
    listed = cli("runs", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "act=[relu]" in listed.stdout
    assert "│ [relu]" in cli("runs", "show", run.id).stdout


def test_bad_input_exits_non_zero(two_runs: tuple[str, str]) -> None:
    bad_filter = cli("runs", "ls", "--filter", "params.C >")
    assert bad_filter.returncode == 1 and "bad filter" in bad_filter.stderr
    assert cli("runs", "show", "nope").returncode == 1
    missing = cli("artifacts", "get", "nothing:1", "-o", "x.npy")
    assert missing.returncode == 1 and "no artifact" in missing.stderr
    assert cli("runs", "frobnicate").returncode == 2


def test_artifacts_get_writes_npy(two_runs: tuple[str, str], workspace: Path) -> None:
    out = workspace / "model.npy"
    result = cli("artifacts", "get", f"{two_runs[1]}/model", "-o", str(out))
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(out), np.full(10, 1.0))


def test_gc_dry_run_and_json(two_runs: tuple[str, str]) -> None:
    store = cairn.get_store()
    loose = store.put_value(np.zeros(100))
    with store.writer() as conn:  # recorded long ago, so past gc's grace period
        conn.execute(
            schema.blobs.update().where(schema.blobs.c.digest == loose).values(created=1.0)
        )
    dry = json.loads(cli("gc", "--dry-run", "--json").stdout)
    assert len(dry["unreferenced"]) == 1 and dry["dry_run"]
    assert "removed 1 unreferenced" in cli("gc").stdout
    assert json.loads(cli("gc", "--dry-run", "--json").stdout)["unreferenced"] == []


@pytest.mark.slow
def test_the_quick_demo_runs_both_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_STORE", raising=False)
    monkeypatch.delenv("CAIRN_BLOBS", raising=False)
    result = cli("demo", "--quick", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout.replace("\n", " ")
    assert "7 run(s) in digits" in result.stdout and "val_acc" in result.stdout
    assert str(tmp_path / ".cairn") in result.stdout.replace("\n", "")
    listed = json.loads(
        cli(
            "runs", "ls", "-e", "digits", "--json", "-f", "metrics.val_acc > 0.9", cwd=tmp_path
        ).stdout
    )
    assert len(listed) >= 3 and all(r["status"] == "finished" for r in listed)
    assert "trials of digits-sgd" in result.stdout
    studies = {s["name"]: s for s in json.loads(cli("tune", "ls", "--json", cwd=tmp_path).stdout)}
    assert studies["digits-sgd"]["trials"] == 6 and studies["digits-sgd"]["best_value"] > 0.9
    assert studies["cartpole-es"]["trials"] == 2
    # The policy passed its gate (100 episodes at least 475) and was served with auth: the
    # token's request got an action, none and a revoked device token got 401.
    assert "gate passed, policy@production -> 1" in out
    assert "without a token -> 401" in out and "revoked -> 401" in out
    assert re.search(r"-> action [01]\b", out)
    shown = json.loads(cli("models", "show", "policy", "--json", cwd=tmp_path).stdout)
    assert shown["aliases"]["production"] == 1 and shown["owner"] == "rl-team"
    trained = json.loads(cli("runs", "ls", "-e", "cartpole", "--json", cwd=tmp_path).stdout)
    assert any(r["metrics"].get("return_mean", 0) > 0 for r in trained)
