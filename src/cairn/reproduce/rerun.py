"""`cairn runs reproduce`: re-create a run's code, check its environment, run it again, and
compare every output artifact's digest with the original's."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.reproduce.command import command_line
from cairn.reproduce.environment import (
    PackageChange,
    environment_of,
    package_changes,
    python_change,
)
from cairn.reproduce.errors import CannotReproduce
from cairn.reproduce.untracked import (
    UntrackedChange,
    UntrackedFilesChanged,
    restore_untracked,
    untracked_changes,
)
from cairn.reproduce.worktree import checkout, repository
from cairn.store import Store, get_store, schema
from cairn.tracking.query import RunRecord, get_run, search_runs
from cairn.tracking.start import REPRODUCES_ENV


class EnvironmentMismatch(CannotReproduce):
    def __init__(self, changes: list[PackageChange], python: tuple[str, str] | None) -> None:
        self.changes, self.python = changes, python
        lines = [
            f"  {c.name}: recorded {c.recorded or '-'}, now {c.current or '-'}"
            for c in changes[:30]
        ]
        if python:
            lines.insert(0, f"  python: recorded {python[0]}, now {python[1]}")
        more = f"\n  ... and {len(changes) - 30} more" if len(changes) > 30 else ""
        super().__init__(
            "the environment differs from the run's:\n"
            + "\n".join(lines)
            + more
            + "\nrecreate it (`cairn runs export ID --dockerfile DIR` writes one) "
            "or pass --force to reproduce anyway"
        )


@dataclass
class Comparison:
    key: str  # "run name path / artifact name #n"
    original: str | None
    reproduced: str | None

    @property
    def matches(self) -> bool:
        return self.original is not None and self.original == self.reproduced


@dataclass
class Reproduction:
    original: RunRecord
    reproduced: RunRecord | None
    returncode: int
    package_changes: list[PackageChange] = field(default_factory=list)
    untracked_changes: list[UntrackedChange] = field(default_factory=list)  # under --force
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return (
            self.returncode == 0
            and bool(self.comparisons)
            and all(c.matches for c in self.comparisons)
        )


def reproduce(
    run_id: str, *, force: bool = False, keep: bool = False, store: Store | None = None
) -> Reproduction:
    """Re-run `run_id`'s root run from its recorded code and compare the artifacts."""
    store = store or get_store()
    original = _root(get_run(run_id, store=store), store)
    code = original.code()
    if not code or not code.get("commit"):
        raise CannotReproduce(
            f"run {original.id} has no recorded git commit: it was started outside a git "
            "checkout, or before the first commit, so its code cannot be re-created"
        )
    command = command_line(code.get("argv") or [], sys.executable)
    recorded_env, current_env = original.environment() or {}, environment_of(sys.executable)
    changes = package_changes(recorded_env, current_env)
    python = python_change(recorded_env, current_env)
    if (changes or python) and not force:
        raise EnvironmentMismatch(changes, python)
    repo = repository(code)
    untracked = untracked_changes(code, store)
    if untracked and not force:
        raise UntrackedFilesChanged(untracked, code["repo"])
    with checkout(code, keep=keep) as worktree:
        restore_untracked(code, store, worktree, copy_listed_from=repo)
        env = {
            **os.environ,
            REPRODUCES_ENV: original.id,
            "CAIRN_STEP_CACHE": "off",
            "CAIRN_STORE": store.engine.url.render_as_string(hide_password=False),
            "CAIRN_BLOBS": store.blobs.url,
        }
        cwd = worktree / code.get("cwd", ".")
        returncode = subprocess.run(command, cwd=cwd, env=env).returncode
    reproduced = _reproduced_run(store, original)
    result = Reproduction(original, reproduced, returncode, changes, untracked)
    if reproduced is not None:
        result.comparisons = _compare(store, original, reproduced)
    return result


def _root(run: RunRecord, store: Store) -> RunRecord:
    while run.parent_id:
        run = get_run(run.parent_id, store=store)
    return run


def _reproduced_run(store: Store, original: RunRecord) -> RunRecord | None:
    found = search_runs(
        filter=f"tags.`cairn.reproduces` = '{original.id}'",
        order_by="attributes.started desc",
        limit=1,
        store=store,
    )
    return found[0] if found else None


def _outputs(store: Store, root: RunRecord) -> dict[str, str]:
    """Digest of every artifact of the run and its descendants, keyed by where it was made."""
    runs, artifacts = schema.runs, schema.artifacts
    tree = (
        sa.select(runs.c.id, runs.c.name.label("path"))
        .where(runs.c.id == root.id)
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        sa.select(runs.c.id, (tree.c.path + "/" + runs.c.name).label("path")).join(
            tree, runs.c.parent_id == tree.c.id
        )
    )
    query = (
        sa.select(tree.c.path, artifacts.c.name, artifacts.c.digest)
        .join(artifacts, artifacts.c.run_id == tree.c.id)
        .order_by(artifacts.c.created, artifacts.c.id)
    )
    outputs: dict[str, str] = {}
    with store.reader() as conn:
        for path, name, digest in conn.execute(query):
            base = f"{path} / {name}"
            n = sum(1 for key in outputs if key.rsplit(" #", 1)[0] == base)
            outputs[f"{base} #{n + 1}"] = digest
    return outputs


def _compare(store: Store, original: RunRecord, reproduced: RunRecord) -> list[Comparison]:
    """Every artifact the original made, against its counterpart. The reproduction may make
    more: steps the original took from the cache are computed this time."""
    before, after = _outputs(store, original), _outputs(store, reproduced)
    return [Comparison(key, digest, after.get(key)) for key, digest in sorted(before.items())]
