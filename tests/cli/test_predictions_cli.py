"""`cairn predictions ...` and `cairn lineage PREDICTION_ID` as a user runs them: a real
process, 80 columns, JSON, and an unknown id refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn import models
from cairn.serve.predictions import PredictionLog
from cairn.store import get_store
from tests.cli.test_cli import cli

X = np.random.default_rng(2).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


@pytest.fixture
def logged(workspace: Path) -> list[str]:
    """Three predictions of digits/1 (trained on `train` in a run) and one shadow of 2."""
    cairn.datasets.save("train", {"X": X, "y": Y})
    with cairn.start_run("fit", experiment="digits"):
        cairn.datasets.load("train")
        one = models.register("digits", LogisticRegression().fit(X, Y), owner="alice")
    two = models.register("digits", LogisticRegression(C=0.1).fit(X, Y))
    log = PredictionLog(get_store(), sample=1.0)
    ids = []
    for i, (version, route) in enumerate([(one, "fixed")] * 3 + [(two, "shadow")]):
        ids.append(log.new_id())
        log.record(ids[-1], name="digits", version=version.version,
                   artifact_id=version.artifact_id, inputs=X[i : i + 1], outputs=Y[i : i + 1],
                   latency_ms=1.5 + i, route=route, shadow=route == "shadow")  # fmt: skip
    log.close()
    return ids


def test_ls_lists_the_newest_first_at_80_columns(logged: list[str], workspace: Path) -> None:
    out = cli("predictions", "ls", cwd=workspace, width=80)
    assert out.returncode == 0, out.stderr
    assert "4 prediction(s)" in out.stdout and "digits/2" in out.stdout
    assert all(i in out.stdout for i in logged) and "shadow" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    data = json.loads(cli("predictions", "ls", "--limit", "2", "--json", cwd=workspace).stdout)
    assert [d["id"] for d in data] == logged[::-1][:2]
    assert data[0]["shadow"] is True and data[1]["inputs"] == X[2:3].tolist()
    other = cli("predictions", "ls", "--model", "other", cwd=workspace)
    assert other.returncode == 0 and "0 prediction(s) of other" in other.stdout


def test_show_gives_the_version_inputs_outputs_and_where_to_go_next(
    logged: list[str], workspace: Path
) -> None:
    first = logged[0]
    out = cli("predictions", "show", first.lower(), cwd=workspace, width=80)
    assert out.returncode == 0, out.stderr
    assert f"prediction {first}" in out.stdout and "digits/1" in out.stdout
    assert "1.50 ms" in out.stdout and "fixed" in out.stdout
    assert json.dumps(X[:1].tolist()) in out.stdout.replace("\n", "")
    assert f"cairn lineage {first}" in out.stdout
    data = json.loads(cli("predictions", "show", first, "--json", cwd=workspace).stdout)
    assert data["outputs"] == Y[:1].tolist() and data["version"] == 1
    missing = cli("predictions", "show", PredictionLog.new_id(), cwd=workspace)
    assert missing.returncode == 1
    assert "only a sample (default 1 %) is kept" in missing.stderr.replace("\n", " ")


def test_lineage_of_a_prediction_id_reaches_the_run_and_its_data(
    logged: list[str], workspace: Path
) -> None:
    first = logged[0]
    out = cli("lineage", first, cwd=workspace)
    assert out.returncode == 0, out.stderr
    assert f"prediction {first} digits/1" in out.stdout
    assert "run digits/fit" in out.stdout and "train" in out.stdout
    prov = json.loads(cli("lineage", first, "--format", "prov-json", cwd=workspace).stdout)
    assert f"cairn:prediction/{first}" in prov["activity"]
