"""A run's untracked files in a reproduction. Stored ones come from the blob store; ones the
run only listed (over `CAIRN_UNTRACKED_LIMIT`) come from their path in the original
repository, and only if what is there now has the digest the run recorded."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cairn.atomic import TEMP_PREFIX, write_atomically
from cairn.errors import NotFoundError
from cairn.reproduce.errors import CannotReproduce
from cairn.states import TextEnum
from cairn.store import Store
from cairn.tracking.capture import file_digest


class UntrackedState(TextEnum):
    MISSING = "missing"  # not stored, and no file at its path in the repository now
    CHANGED = "changed"  # not stored, and the file at its path has other content now


@dataclass(frozen=True)
class UntrackedChange:
    path: str
    state: UntrackedState
    recorded: str | None  # the digest the run had; None in records that listed paths only
    current: str | None  # the digest at its path now; None when missing


class UntrackedFilesChanged(CannotReproduce):
    def __init__(self, changes: list[UntrackedChange], repo: str) -> None:
        self.changes = changes
        lines = [f"  {c.path}: {c.state}{_digests(c)}" for c in changes[:30]]
        more = f"\n  ... and {len(changes) - 30} more" if len(changes) > 30 else ""
        super().__init__(
            f"untracked files of the run whose content was not stored with it (over "
            f"CAIRN_UNTRACKED_LIMIT, or recorded before cairn stored them) are missing or "
            f"changed in {repo}:\n"
            + "\n".join(lines)
            + more
            + "\nput them back, or pass --force to reproduce with what is there"
        )


def _digests(change: UntrackedChange) -> str:
    if change.state is UntrackedState.CHANGED and change.recorded:
        return f" (recorded {change.recorded[:12]}, now {(change.current or '-')[:12]})"
    return f" (recorded {change.recorded[:12]})" if change.recorded else ""


def untracked_changes(code: dict, store: Store) -> list[UntrackedChange]:
    """The untracked files a reproduction cannot give the content the run had. Reads only."""
    repo = Path(code["repo"])
    changes = []
    for entry in _entries(code):
        if "symlink" in entry or (entry.get("stored") and store.blobs.exists(entry["digest"])):
            continue
        source = _inside(repo, entry["path"])
        current = None if source is None else file_digest(source)
        recorded = entry.get("digest")
        if current is None:
            changes.append(UntrackedChange(entry["path"], UntrackedState.MISSING, recorded, None))
        elif recorded is not None and current != recorded:
            changes.append(
                UntrackedChange(entry["path"], UntrackedState.CHANGED, recorded, current)
            )
    return changes


def restore_untracked(
    code: dict, store: Store, dest: Path, *, copy_listed_from: Path | None
) -> list[str]:
    """Write the run's untracked files under `dest`: stored ones from their blobs, symlinks
    with their recorded text, and the ones only listed copied from `copy_listed_from` (the
    original repository, checked beforehand with `untracked_changes`) where a file is
    there. Returns the paths written."""
    entries = _entries(code)
    written = []
    for entry in entries:  # files first: none is written through a link re-made here
        if "symlink" not in entry:
            content = _content(entry, store, copy_listed_from)
            if content is not None:
                _write(dest, entry["path"], content, entry.get("mode", 0o644))
                written.append(entry["path"])
    for entry in entries:
        if "symlink" in entry:
            _link(entry["symlink"], _target(dest, entry["path"]))
            written.append(entry["path"])
    return written


def _content(
    entry: dict, store: Store, repo: Path | None
) -> memoryview | Callable[[BinaryIO], object] | None:
    """An untracked file's bytes, or a function copying them from the repository."""
    if entry.get("stored"):
        try:
            return store.blobs.get(entry["digest"])
        except NotFoundError:  # collected, or another blob store: as if only listed
            pass
    source = None if repo is None else _inside(repo, entry["path"])
    if source is None or source.is_symlink() or not source.is_file():
        return None
    return functools.partial(_copy, source)


def _copy(source: Path, dst: BinaryIO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, dst)


def _write(
    dest: Path, path: str, data: memoryview | Callable[[BinaryIO], object], mode: int
) -> None:
    write_atomically(_target(dest, path), data, mode=mode)


def _link(text: str, target: Path) -> None:
    """A symlink made under a temporary name and renamed into place, like a written file."""
    temporary = target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    os.symlink(text, temporary)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink()
        raise


def _target(dest: Path, path: str) -> Path:
    target = _inside(dest, path)
    if target is None:
        raise CannotReproduce(f"{dest / path} is reached through a symlink out of {dest}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _entries(code: dict) -> list[dict]:
    # Records made before untracked files were stored list their paths only.
    return [{"path": e} if isinstance(e, str) else e for e in code.get("untracked", [])]


def _inside(root: Path, relative: str) -> Path | None:
    """`root / relative`, or None if a symlinked folder on the way leads out of `root`.
    A record is data: a path that climbs out with `..` is refused."""
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise CannotReproduce(
            f"the run's record names an untracked file outside its repository: {relative!r}"
        )
    target = root / path
    return target if target.parent.resolve().is_relative_to(root.resolve()) else None
