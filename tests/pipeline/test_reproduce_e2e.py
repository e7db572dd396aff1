"""A pipeline script in a git repository: run, change, re-run, reproduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

import cairn
from cairn.store import schema
from tests.conftest import git_repo

SCRIPT = """
import os
import numpy as np
import cairn

def executed(name):
    with open(os.environ["EXEC_LOG"], "a") as f:
        f.write(name + "\\n")

@cairn.step
def load(n):
    executed("load")
    return np.arange(n, dtype=np.float64)

@cairn.step
def scale(x, factor):
    executed("scale")
    return x * factor

@cairn.step
def total(x):
    executed("total")
    return float(x.sum())

with cairn.start_run("pipeline", experiment="e2e", params={"n": 1000}) as run:
    result = total(scale(load(1000), 2.0))
    run.log({"total": result})
    print(run.id)
"""


@pytest.fixture
def repo(workspace: Path) -> Path:
    return git_repo(workspace / "project", {"pipeline.py": SCRIPT})


def _run(repo: Path, log: Path) -> tuple[str, list[str]]:
    log.write_text("")
    out = subprocess.run(
        [sys.executable, "pipeline.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "EXEC_LOG": str(log)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip(), log.read_text().split()


def _cli(*args: str, log: Path) -> subprocess.CompletedProcess:
    log.write_text("")
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "EXEC_LOG": str(log), "COLUMNS": "200"},
        timeout=300,
    )


def test_change_reruns_only_dependants_and_reproduce_matches(repo: Path, workspace: Path) -> None:
    log = workspace / "executions.log"
    first, executed = _run(repo, log)
    assert executed == ["load", "scale", "total"]
    _, executed = _run(repo, log)
    assert executed == []  # everything cached

    (repo / "pipeline.py").write_text(SCRIPT.replace("x * factor", "x * factor + 1"))
    second, executed = _run(repo, log)
    assert executed == ["scale", "total"]  # load did not change
    assert cairn.get_run(second).metrics["total"] == 2 * 999 * 1000 / 2 + 1000
    assert cairn.get_run(second).code()["dirty"]

    reproduced = _cli("runs", "reproduce", first, log=log)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert "every artifact's digest matches" in reproduced.stdout
    assert log.read_text().split() == ["load", "scale", "total"]  # computed, not looked up
    copy = cairn.search_runs(filter=f"tags.`cairn.reproduces` = '{first}'")[0]
    assert copy.metrics == cairn.get_run(first).metrics

    with_diff = _cli("runs", "reproduce", second, log=log)  # its uncommitted diff re-applied
    assert with_diff.returncode == 0, with_diff.stdout + with_diff.stderr
    copy = cairn.search_runs(filter=f"tags.`cairn.reproduces` = '{second}'")[0]
    assert copy.metrics["total"] == cairn.get_run(second).metrics["total"]


def test_reproduce_refuses_a_different_environment(repo: Path, workspace: Path) -> None:
    run_id, _ = _run(repo, workspace / "log")
    store = cairn.get_store()
    env = cairn.get_run(run_id).environment()
    env["packages"]["numpy"] = "0.0.1"
    data = json.dumps(env, sort_keys=True).encode()
    digest = store.blobs.put(data)
    store.record_blob(digest, len(data), "json", {})
    with store.writer() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(env_ref=digest))
    refused = _cli("runs", "reproduce", run_id, log=workspace / "log")
    assert refused.returncode == 1
    assert "numpy: recorded 0.0.1" in refused.stderr and "--force" in refused.stderr
    assert cairn.search_runs(filter=f"tags.`cairn.reproduces` = '{run_id}'") == []
    forced = _cli("runs", "reproduce", run_id, "--force", log=workspace / "log")
    assert forced.returncode == 0, forced.stdout + forced.stderr


def test_reproduce_without_git_is_a_clear_error(workspace: Path) -> None:
    with cairn.start_run("nogit"):
        pass
    before = len(cairn.search_runs())
    result = _cli("runs", "reproduce", cairn.search_runs()[0].id, log=workspace / "log")
    assert result.returncode == 1 and "no recorded git commit" in result.stderr
    assert len(cairn.search_runs()) == before


def test_export_writes_dockerfile_requirements_and_spec(repo: Path, workspace: Path) -> None:
    run_id, _ = _run(repo, workspace / "log")
    out = workspace / "image"
    result = _cli("runs", "export", run_id, "--dockerfile", str(out), log=workspace / "log")
    assert result.returncode == 0, result.stderr
    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.startswith("# Rebuilds") and "FROM python:3." in dockerfile
    assert '"pipeline.py"' in dockerfile or "pipeline.py" in dockerfile
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert f"numpy=={__import__('numpy').__version__}" in requirements
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert set(spec) >= {"hardware", "software", "dataset", "model"}
    assert spec["software"]["code"]["commit"] == cairn.get_run(run_id).code()["commit"]
    assert spec["hardware"]["cpu"]["logical"] >= 1


def test_step_inputs_are_lineage(repo: Path, workspace: Path) -> None:
    run_id, _ = _run(repo, workspace / "log")
    store = cairn.get_store()
    with store.reader() as conn:
        steps = conn.execute(
            sa.select(schema.runs.c.id, schema.runs.c.name).where(schema.runs.c.parent_id == run_id)
        ).all()
    total_run = next(r.id for r in steps if r.name == "total")
    graph = cairn.lineage(total_run, direction="up")
    assert {n.label for n in graph.artifacts()} == {"load:1", "scale:1"}
    assert {n.attrs["name"] for n in graph.runs()} == {"total", "scale", "load"}
