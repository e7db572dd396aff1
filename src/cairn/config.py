"""Where the workspace is: `.cairn/` found like git finds `.git/`, or URLs from the environment.

CAIRN_STORE is the metadata URL (sqlite:///..., postgresql://...), CAIRN_BLOBS the blob URL
(a folder, file://..., s3://bucket/prefix). Either may be set alone; what is missing comes
from the `.cairn/` folder above the current directory.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import InvalidValueError, WorkspaceNotFoundError

DIRNAME = ".cairn"
DB_FILENAME = "cairn.db"
BLOBS_DIRNAME = "blobs"


@dataclass(frozen=True)
class Workspace:
    store_url: str
    blobs_url: str
    root: Path | None  # the `.cairn/` folder, None when both URLs come from the environment

    def describe(self) -> str:
        return str(self.root) if self.root else f"{self.store_url} + {self.blobs_url}"


def find_root(start: Path | None = None) -> Path | None:
    """The nearest `.cairn/` folder at or above `start` (the current directory by default)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIRNAME
        if candidate.is_dir():
            return candidate
    return None


def urls_for_root(root: Path) -> tuple[str, str]:
    return f"sqlite:///{root / DB_FILENAME}", str(root / BLOBS_DIRNAME)


def find_workspace(start: Path | None = None, *, create: bool = False) -> Workspace:
    """The workspace the environment or the folder tree points at.

    With `create=True` a `.cairn/` is made in the current directory when none is found,
    the way MLflow makes `mlruns/`: the Python API should just work in a fresh folder.
    """
    env_store = os.environ.get("CAIRN_STORE")
    env_blobs = os.environ.get("CAIRN_BLOBS")
    if env_store and env_blobs:
        return Workspace(env_store, env_blobs, None)
    root = find_root(start)
    if root is None:
        if not create:
            raise WorkspaceNotFoundError(
                "no .cairn/ workspace here or in any parent folder; "
                "run `cairn init` or set CAIRN_STORE and CAIRN_BLOBS"
            )
        root = init_root(start or Path.cwd())
    store_url, blobs_url = urls_for_root(root)
    return Workspace(env_store or store_url, env_blobs or blobs_url, root)


def init_root(path: Path) -> Path:
    """Create `path/.cairn/` (idempotent) and return it."""
    root = path.resolve() / DIRNAME
    (root / BLOBS_DIRNAME).mkdir(parents=True, exist_ok=True)
    return root


MAX_USER_LENGTH = 255
# A server acts for whoever its request's token names, not for the user running it.
_ACTING: ContextVar[str | None] = ContextVar("cairn_acting", default=None)


@contextlib.contextmanager
def acting_as(subject: str) -> Iterator[None]:
    """Within the block (and the thread or task it runs in), `current_user()` is `subject`."""
    token = _ACTING.set(subject)
    try:
        yield
    finally:
        _ACTING.reset(token)


def current_user() -> str:
    """Who acts, for the audit log: the subject of `acting_as`, else CAIRN_USER, else the
    login name."""
    acting = _ACTING.get()
    if acting:
        return acting
    named = os.environ.get("CAIRN_USER", "").strip()
    if named:
        if len(named) > MAX_USER_LENGTH or not named.isprintable():
            raise InvalidValueError(
                f"CAIRN_USER must be a printable name of at most {MAX_USER_LENGTH} characters"
            )
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name: a container running as an unnamed uid
        return f"uid:{os.getuid()}"
