"""Each run records its code (git) and environment without being asked."""

from __future__ import annotations

import sys
from pathlib import Path

import cairn
from cairn.config import find_workspace, init_root
from tests.conftest import git_repo, run_python


def test_git_state_and_environment_are_captured(workspace: Path) -> None:
    repo = git_repo(workspace / "project", {"train.py": "print('v1')\n"})
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "new.py").write_text("x = 1\n")
    run_id = run_python(
        "import cairn\nwith cairn.start_run('git') as r: print(r.id)", cwd=repo
    ).stdout.strip()
    record = cairn.get_run(run_id)
    code = record.code()
    assert code["branch"] == "main" and len(code["commit"]) == 40 and code["dirty"]
    assert "+print('v2')" in code["diff"] and code["untracked"] == ["new.py"]
    env = record.environment()
    assert env["python"] == sys.version.split()[0]
    assert "numpy" in env["packages"] and env["cpu"]["logical"] >= 1
    assert env["memory_bytes"] > 0 and isinstance(env["gpus"], list)
    assert "-c" in record.command and record.user and record.host


def test_outside_git_code_is_none(workspace: Path) -> None:
    with cairn.start_run("nogit") as run:
        pass
    assert cairn.get_run(run.id).code() is None


def test_workspace_is_found_upwards(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CAIRN_STORE", raising=False)
    monkeypatch.delenv("CAIRN_BLOBS", raising=False)
    root = init_root(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    found = find_workspace(deep)
    assert found.root == root and found.store_url.endswith(".cairn/cairn.db")
    monkeypatch.setenv("CAIRN_BLOBS", "s3://bucket/prefix")
    assert find_workspace(deep).blobs_url == "s3://bucket/prefix"
    monkeypatch.delenv("CAIRN_BLOBS")
    empty = tmp_path.parent / f"{tmp_path.name}-empty"
    empty.mkdir()
    try:
        find_workspace(empty)
    except cairn.WorkspaceNotFoundError as exc:
        assert "cairn init" in str(exc)
    else:
        raise AssertionError("a folder without .cairn/ above it has no workspace")
