"""Each run records its code (git) and environment without being asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn.config import find_workspace, init_root
from cairn.store import Store, schema
from cairn.store.blobs import digest_of
from cairn.tracking.capture import (
    UNTRACKED_LIMIT_ENV,
    UntrackedLimitError,
    capture_code_record,
    untracked_limit,
)
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
    assert "+print('v2')" in code["diff"]
    [new] = code["untracked"]
    assert new == {
        "path": "new.py",
        "digest": digest_of(b"x = 1\n"),
        "size": 6,
        "mode": (repo / "new.py").stat().st_mode & 0o777,
        "stored": True,
    }
    assert bytes(cairn.get_store().blobs.get(new["digest"])) == b"x = 1\n"
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


def _record(store: Store, repo: Path) -> tuple[str, dict]:
    digest = capture_code_record(store, repo)
    return digest, json.loads(bytes(store.blobs.get(digest)))


def test_untracked_files_are_stored_smallest_first_within_the_limit(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo(workspace / "project", {".gitignore": "ignored.txt\n", "a.py": "a = 1\n"})
    files = {"s.txt": 100, "m.txt": 500, "l.txt": 600, "xl.bin": 2000, "ignored.txt": 10}
    for name, size in files.items():
        (repo / name).write_bytes(os.urandom(size))
    (repo / "sub dir").mkdir()
    (repo / "sub dir" / "conf.json").write_text("{}")
    (repo / ".cairn").mkdir()
    (repo / ".cairn" / "cairn.db").write_bytes(b"a workspace is no code")
    monkeypatch.setenv(UNTRACKED_LIMIT_ENV, "1KB")
    store = cairn.get_store()
    digest, code = _record(store, repo)

    entries = {e["path"]: e for e in code["untracked"]}
    assert sorted(entries) == ["l.txt", "m.txt", "s.txt", "sub dir/conf.json", "xl.bin"]
    for path, entry in entries.items():
        assert entry["digest"] == digest_of((repo / path).read_bytes())
        assert entry["size"] == (repo / path).stat().st_size
    # 2 + 100 + 500 bytes fit in 1024; 600 more would not, 2000 never.
    stored = {p for p, e in entries.items() if e["stored"]}
    assert stored == {"s.txt", "m.txt", "sub dir/conf.json"}
    for path, entry in entries.items():
        assert store.blobs.exists(entry["digest"]) == (path in stored)
    with store.reader() as conn:
        links = conn.execute(
            sa.select(schema.blob_links.c.child).where(schema.blob_links.c.parent == digest)
        ).scalars()
        assert set(links) == {entries[p]["digest"] for p in stored}
    assert code["dirty"]


def test_symlinks_are_recorded_not_followed(workspace: Path) -> None:
    outside = workspace / "secret.txt"
    outside.write_text("not part of the code")
    repo = git_repo(workspace / "project", {"a.py": "a = 1\n"})
    (repo / "config.yaml").write_text("lr: 0.1\n")
    (repo / "out").symlink_to(outside)
    (repo / "in").symlink_to("config.yaml")
    os.mkfifo(repo / "pipe")  # reading it would block the run's start
    store = cairn.get_store()
    _, code = _record(store, repo)
    entries = {e["path"]: e for e in code["untracked"]}
    assert entries["out"] == {"path": "out", "symlink": str(outside)}
    assert entries["in"] == {"path": "in", "symlink": "config.yaml"}
    assert "pipe" not in entries
    assert not store.blobs.exists(digest_of(outside.read_bytes()))


@pytest.mark.parametrize(
    ("text", "limit"),
    [("123", 123), ("10MB", 10 << 20), ("512kb", 512 << 10), ("1.5GiB", 3 << 29), ("0", 0)],
)
def test_untracked_limit_parses_sizes(
    text: str, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UNTRACKED_LIMIT_ENV, text)
    assert untracked_limit() == limit


def test_untracked_limit_default_and_bad_values(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNTRACKED_LIMIT_ENV, raising=False)
    assert untracked_limit() == 10 << 20
    repo = git_repo(workspace / "project", {"a.py": "a = 1\n"})
    (repo / "new.py").write_text("b = 2\n")
    store = cairn.get_store()
    for bad in ("ten", "-1", "10 TB", "1e3"):
        monkeypatch.setenv(UNTRACKED_LIMIT_ENV, bad)
        with pytest.raises(UntrackedLimitError, match=UNTRACKED_LIMIT_ENV) as caught:
            capture_code_record(store, repo)
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, cairn.CairnError)
    with store.reader() as conn:  # refused before anything was stored
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.blobs)).scalar() == 0


def test_untracked_files_are_listed_from_the_top_and_argv_is_relative_to_the_folder(
    workspace: Path,
) -> None:
    script = "import cairn\nwith cairn.start_run('sub') as r: print(r.id)\n"
    repo = git_repo(workspace / "project", {"README": "a project\n"})
    (repo / "sub").mkdir()
    (repo / "sub" / "train.py").write_text(script)
    (repo / "config.json").write_text("{}")
    out = subprocess.run(
        [sys.executable, str(repo / "sub" / "train.py"), str(repo / "config.json"), "a b"],
        cwd=repo / "sub",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    code = cairn.get_run(out.stdout.strip()).code()
    assert code["cwd"] == "sub"
    assert code["argv"] == ["./train.py", "../config.json", "a b"]
    paths = [e if isinstance(e, str) else e["path"] for e in code["untracked"]]
    assert paths == ["config.json", "sub/train.py"]  # the whole repository's, by its paths


def test_a_module_run_with_python_m_is_recorded_as_one(workspace: Path) -> None:
    module = "import cairn\nwith cairn.start_run('m') as r: print(r.id)\n"
    repo = git_repo(workspace / "project", {"README": "a project\n"})
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "train.py").write_text(module)
    out = subprocess.run(
        [sys.executable, "-m", "pkg.train", "--name", "two words"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert cairn.get_run(out.stdout.strip()).code()["argv"] == [
        "-m",
        "pkg.train",
        "--name",
        "two words",
    ]


def test_untracked_files_are_stored_and_linked_on_every_backend(
    backend: str, tmp_path: Path
) -> None:
    repo = git_repo(tmp_path / "project", {"a.py": "a = 1\n"})
    (repo / "conf.yaml").write_text("lr: 0.1\n")
    store = cairn.get_store()
    first, code = _record(store, repo)
    again, _ = _record(store, repo)  # an unchanged checkout: the same record, no new blob
    assert first == again
    [entry] = code["untracked"]
    assert bytes(store.blobs.get(entry["digest"])) == b"lr: 0.1\n"
    with store.reader() as conn:
        assert conn.execute(
            sa.select(schema.blob_links.c.child).where(schema.blob_links.c.parent == first)
        ).scalars().all() == [entry["digest"]]
        codecs = dict(conn.execute(sa.select(schema.blobs.c.digest, schema.blobs.c.codec)).all())
    assert codecs == {first: "json", entry["digest"]: "bytes"}
