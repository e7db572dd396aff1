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
from cairn.reproduce import (
    UntrackedChange,
    UntrackedFilesChanged,
    UntrackedState,
    reproduce,
)
from cairn.store import schema
from cairn.store.blobs import digest_of
from cairn.store.gc import collect
from cairn.tracking.capture import UNTRACKED_LIMIT_ENV
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


def test_packages_this_process_alone_sees_are_not_a_change(
    repo: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test runner or a notebook may put more on sys.path than a fresh interpreter has; the
    # re-run is a fresh interpreter, so that is what is compared with the record.
    extra = workspace / "only-here"
    (extra / "onlyhere-1.0.dist-info").mkdir(parents=True)
    (extra / "onlyhere-1.0.dist-info" / "METADATA").write_text("Name: onlyhere\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(extra))
    run_id, _ = _run(repo, workspace / "log")
    monkeypatch.setenv("EXEC_LOG", str(workspace / "log"))
    result = reproduce(run_id)
    assert result.package_changes == [] and result.reproduced is not None


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
    assert spec["run"]["status"] == "finished"  # plain text, not the RunStatus member


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


# Not committed: it reads an untracked config and an untracked data file (if there).
UNCOMMITTED = """
import json
import os
import numpy as np
import cairn

@cairn.step
def weigh(data, factor):
    return np.frombuffer(data, dtype=np.uint8).astype(np.float64) * factor

config = json.load(open("config.json"))
data = open("data.bin", "rb").read() if os.path.exists("data.bin") else b""
with cairn.start_run("uncommitted", experiment="e2e", params=config) as run:
    run.log({"total": float(weigh(data, config["factor"]).sum())})
    print(run.id)
"""


def _python(repo: Path, *args: str, env: dict | None = None) -> str:
    out = subprocess.run(
        [sys.executable, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def uncommitted(workspace: Path) -> Path:
    repo = git_repo(workspace / "project", {"README.md": "nothing committed runs\n"})
    (repo / "train.py").write_text(UNCOMMITTED)
    (repo / "config.json").write_text(json.dumps({"factor": 3.0}))
    (repo / "data.bin").write_bytes(bytes(range(256)) * 8)  # 2 KiB
    return repo


def test_an_uncommitted_script_and_its_untracked_config_are_reproduced(
    uncommitted: Path, workspace: Path
) -> None:
    run_id = _python(uncommitted, "train.py")
    for name in ("train.py", "config.json", "data.bin"):  # gone from the checkout: only
        (uncommitted / name).unlink()  # the stored copies can bring them back
    collect(cairn.get_store())  # the record's links keep the files' blobs

    result = _cli("runs", "reproduce", run_id, log=workspace / "log")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every artifact's digest matches" in result.stdout
    copy = cairn.search_runs(filter=f"tags.`cairn.reproduces` = '{run_id}'")[0]
    assert copy.metrics == cairn.get_run(run_id).metrics
    assert copy.metrics["total"] == 3.0 * 8 * sum(range(256))


def test_a_file_over_the_limit_is_listed_and_checked_at_reproduction(
    uncommitted: Path, workspace: Path
) -> None:
    run_id = _python(uncommitted, "train.py", env={UNTRACKED_LIMIT_ENV: "1KB"})
    data = (uncommitted / "data.bin").read_bytes()
    entries = {e["path"]: e for e in cairn.get_run(run_id).code()["untracked"]}
    assert entries["data.bin"] == {
        "path": "data.bin",
        "digest": digest_of(data),
        "size": 2048,
        "mode": entries["data.bin"]["mode"],
        "stored": False,
    }
    assert entries["train.py"]["stored"] and entries["config.json"]["stored"]
    assert not cairn.get_store().blobs.exists(digest_of(data))

    unchanged = reproduce(run_id)  # copied from the repository, where it is still the same
    assert unchanged.identical and unchanged.untracked_changes == []

    (uncommitted / "data.bin").write_bytes(data[::-1])
    changed = _cli("runs", "reproduce", run_id, log=workspace / "log")
    assert changed.returncode == 1
    assert "data.bin: changed" in changed.stderr and digest_of(data)[:12] in changed.stderr
    assert "--force" in changed.stderr

    (uncommitted / "data.bin").unlink()
    with pytest.raises(UntrackedFilesChanged) as missing:
        reproduce(run_id)
    assert missing.value.changes == [
        UntrackedChange("data.bin", UntrackedState.MISSING, digest_of(data), None)
    ]
    assert "data.bin: missing" in str(missing.value)
    assert len(cairn.search_runs(filter=f"tags.`cairn.reproduces` = '{run_id}'")) == 1

    forced = reproduce(run_id, force=True)  # the script runs without it, and differs
    assert forced.untracked_changes == missing.value.changes
    assert forced.returncode == 0 and not forced.identical


def test_a_module_run_with_arguments_is_reproduced_and_exported(workspace: Path) -> None:
    module = (
        "import sys\n"
        "from .helpers import double\n"  # relative: run as a file, this import fails
        "import cairn\n"
        "with cairn.start_run('m', experiment='e2e', params={'arg': sys.argv[1]}) as run:\n"
        "    run.save('out', double(sys.argv[1]))\n"
        "    print(run.id)\n"
    )
    repo = git_repo(workspace / "project", {"README.md": "x\n"})
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "helpers.py").write_text("def double(s):\n    return s + s\n")
    (repo / "pkg" / "train.py").write_text(module)
    run_id = _python(repo, "-m", "pkg.train", "two words")

    result = reproduce(run_id)
    assert result.returncode == 0 and result.identical
    assert result.reproduced.params == {"arg": "two words"}

    out = workspace / "image"
    exported = _cli("runs", "export", run_id, "--dockerfile", str(out), log=workspace / "log")
    assert exported.returncode == 0, exported.stderr
    dockerfile = (out / "Dockerfile").read_text().splitlines()
    assert 'CMD ["python", "-m", "pkg.train", "two words"]' in dockerfile
    assert "COPY untracked/ /work/" in dockerfile
    assert (out / "untracked" / "pkg" / "train.py").read_text() == module


def test_export_of_a_step_names_what_it_used_and_made(repo: Path, workspace: Path) -> None:
    run_id, _ = _run(repo, workspace / "log")
    steps = {r.name: r.id for r in cairn.search_runs(filter=f"attributes.parent_id = '{run_id}'")}
    out = workspace / "image"
    written = cairn.reproduce.export(steps["total"], out)
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert [a["name"] for a in spec["dataset"]] == ["scale"]  # through its lineage edge
    assert [a["name"] for a in spec["model"]] == ["total"]
    for path in written:  # readable by the docker daemon's user as well
        assert path.stat().st_mode & 0o777 == 0o644
