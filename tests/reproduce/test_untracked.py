"""Untracked files written into a reproduction's worktree from a record, and what a record
may not do: reach out of the folder it is written into."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cairn
from cairn.reproduce import CannotReproduce, UntrackedChange, UntrackedState
from cairn.reproduce.untracked import restore_untracked, untracked_changes
from cairn.reproduce.worktree import checkout
from cairn.store.blobs import digest_of
from cairn.tracking.capture import capture_code_record
from tests.conftest import git_repo


def _stored(store: cairn.Store, path: str, data: bytes, mode: int = 0o644) -> dict:
    digest = store.blobs.put(data)
    return {"path": path, "digest": digest, "size": len(data), "mode": mode, "stored": True}


def test_stored_files_listed_files_and_symlinks_are_restored(workspace: Path) -> None:
    store = cairn.get_store()
    repo, dest = workspace / "repo", workspace / "worktree"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "big.bin").write_bytes(b"b" * 100)
    code = {
        "repo": str(repo),
        "untracked": [
            _stored(store, "run.sh", b"#!/bin/sh\necho hi\n", mode=0o755),
            _stored(store, "conf/a b.json", b"{}"),
            {
                "path": "data/big.bin",
                "digest": digest_of(b"b" * 100),
                "size": 100,
                "mode": 0o600,
                "stored": False,
            },
            {"path": "latest", "symlink": "conf/a b.json"},
        ],
    }
    assert untracked_changes(code, store) == []
    written = restore_untracked(code, store, dest, copy_listed_from=repo)
    assert sorted(written) == ["conf/a b.json", "data/big.bin", "latest", "run.sh"]
    assert (dest / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (dest / "data" / "big.bin").read_bytes() == b"b" * 100
    assert (dest / "data" / "big.bin").stat().st_mode & 0o777 == 0o600
    assert os.readlink(dest / "latest") == "conf/a b.json"
    assert (dest / "latest").read_text() == "{}"

    again = restore_untracked(code, store, dest, copy_listed_from=None)  # an export's again
    assert sorted(again) == ["conf/a b.json", "latest", "run.sh"]  # only what was stored


def test_a_collected_blob_falls_back_to_the_repository(workspace: Path) -> None:
    store = cairn.get_store()
    repo = workspace / "repo"
    repo.mkdir()
    entry = _stored(store, "conf.json", b'{"lr": 1}')
    store.blobs.delete(entry["digest"])
    code = {"repo": str(repo), "untracked": [entry]}
    assert untracked_changes(code, store) == [
        UntrackedChange("conf.json", UntrackedState.MISSING, entry["digest"], None)
    ]
    (repo / "conf.json").write_bytes(b'{"lr": 1}')
    assert untracked_changes(code, store) == []
    restore_untracked(code, store, workspace / "wt", copy_listed_from=repo)
    assert (workspace / "wt" / "conf.json").read_bytes() == b'{"lr": 1}'


def test_records_that_listed_paths_only_are_checked_for_presence(workspace: Path) -> None:
    store = cairn.get_store()
    repo = workspace / "repo"
    repo.mkdir()
    (repo / "here.txt").write_text("still here")
    code = {"repo": str(repo), "untracked": ["here.txt", "gone.txt"]}
    assert untracked_changes(code, store) == [
        UntrackedChange("gone.txt", UntrackedState.MISSING, None, None)
    ]
    assert restore_untracked(code, store, workspace / "wt", copy_listed_from=repo) == ["here.txt"]


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt", ""])
def test_a_record_path_out_of_the_folder_is_refused(workspace: Path, path: str) -> None:
    store = cairn.get_store()
    code = {"repo": str(workspace), "untracked": [_stored(store, path, b"x")]}
    dest = workspace / "deep" / "wt"
    with pytest.raises(CannotReproduce, match="outside its repository"):
        restore_untracked(code, store, dest, copy_listed_from=None)
    assert not (workspace / "deep" / "escape.txt").exists() and not dest.exists()


def test_nothing_is_written_through_a_symlinked_folder(workspace: Path) -> None:
    store = cairn.get_store()
    outside, dest = workspace / "outside", workspace / "wt"
    outside.mkdir()
    dest.mkdir()
    (dest / "linked").symlink_to(outside)
    code = {"repo": str(workspace), "untracked": [_stored(store, "linked/x.txt", b"x")]}
    with pytest.raises(CannotReproduce, match="symlink out of"):
        restore_untracked(code, store, dest, copy_listed_from=None)
    assert list(outside.iterdir()) == []
    # In the original repository such a file counts as missing: it is not followed there.
    listed = {**code["untracked"][0], "stored": False}
    (outside / "x.txt").write_bytes(b"x")
    changes = untracked_changes({"repo": str(dest), "untracked": [listed]}, store)
    assert [c.state for c in changes] == [UntrackedState.MISSING]


def test_names_and_diffs_in_other_encodings_are_recreated_byte_for_byte(
    workspace: Path,
) -> None:
    repo = git_repo(workspace / "project", {"notes.txt": "caf\u00e9\n"})
    (repo / "notes.txt").write_bytes("caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    name = os.fsdecode(b"donn\xe9es.csv")  # a Latin-1 file name, not UTF-8
    (repo / name).write_bytes(b"a,b\n")
    store = cairn.get_store()
    code = json.loads(bytes(store.blobs.get(capture_code_record(store, repo))))
    assert [e["path"] for e in code["untracked"]] == [name]
    with checkout(code) as worktree:
        restore_untracked(code, store, worktree, copy_listed_from=repo)
        assert (worktree / "notes.txt").read_bytes() == (repo / "notes.txt").read_bytes()
        assert (worktree / name).read_bytes() == b"a,b\n"
