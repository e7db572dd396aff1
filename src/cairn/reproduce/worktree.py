"""The code a run ran: a git worktree at its commit with its uncommitted diff applied."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cairn.reproduce.errors import CannotReproduce


def _git(*args: str, cwd: str | Path, stdin: str | None = None) -> str:
    # surrogateescape: a diff of a file in another encoding goes back to git byte for byte.
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        encoding="utf-8",
        errors="surrogateescape",
    )
    if result.returncode != 0:
        raise CannotReproduce(f"git {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def repository(code: dict) -> Path:
    """The run's repository, checked to be there still."""
    repo = Path(code["repo"])
    if not (repo / ".git").exists():
        raise CannotReproduce(f"the run's repository {repo} is not there any more")
    return repo


@contextmanager
def checkout(code: dict, keep: bool = False) -> Iterator[Path]:
    """A temporary worktree of `code["repo"]` at `code["commit"]`, the diff applied."""
    repo = repository(code)
    folder = Path(tempfile.mkdtemp(prefix="cairn-reproduce-"))
    worktree = folder / "code"
    _git("worktree", "add", "--detach", str(worktree), code["commit"], cwd=repo)
    try:
        if code.get("diff"):
            _git("apply", "--binary", "--whitespace=nowarn", "-", cwd=worktree, stdin=code["diff"])
        yield worktree
    finally:
        if not keep:
            _git("worktree", "remove", "--force", str(worktree), cwd=repo)
            shutil.rmtree(folder, ignore_errors=True)
