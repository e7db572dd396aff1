"""MLflow's tracking URI, read as a cairn workspace.

`set_tracking_uri` takes a folder (the project folder holding `.cairn/`, or `.cairn/`
itself; `file:` URLs too), an SQLite URL (`sqlite:///path/cairn.db`, blobs in `blobs/`
beside it) or a PostgreSQL URL (blobs from CAIRN_BLOBS). It sets CAIRN_STORE and
CAIRN_BLOBS, as MLflow's sets MLFLOW_TRACKING_URI, so every part of cairn in this process
(and the processes it starts) works on the same workspace. An MLflow store is refused with
the command that imports it: cairn never writes into MLflow's tables or folders.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from cairn.config import BLOBS_DIRNAME, DIRNAME, find_workspace, init_root, urls_for_root
from cairn.errors import InvalidValueError

STORE_ENV = "CAIRN_STORE"
BLOBS_ENV = "CAIRN_BLOBS"
_MLFLOW_TABLES = ("experiment_tags", "registered_models")  # tables only MLflow's schema has


def set_tracking_uri(uri: str | os.PathLike) -> None:
    """Track into the workspace `uri` names from now on (see the module's docstring)."""
    store_url, blobs_url = workspace_urls(uri)
    os.environ[STORE_ENV] = store_url
    os.environ[BLOBS_ENV] = blobs_url


def get_tracking_uri() -> str:
    """The metadata URL of the workspace cairn.mlflow tracks into (`.cairn/` is made in the
    current folder if there is none, as MLflow makes `mlruns/`)."""
    return find_workspace(create=True).store_url


def is_tracking_uri_set() -> bool:
    return bool(os.environ.get(STORE_ENV))


def workspace_urls(uri: str | os.PathLike) -> tuple[str, str]:
    """(metadata URL, blob URL) of the workspace `uri` names."""
    text = os.fspath(uri) if isinstance(uri, os.PathLike) else uri
    if not isinstance(text, str) or not text.strip():
        raise InvalidValueError(f"a tracking URI is a folder or a store URL, got {uri!r}")
    scheme = urlparse(text).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        path = Path(unquote(urlparse(text).path)) if scheme == "file" else Path(text)
        return _folder_urls(path.expanduser())
    if scheme.startswith("sqlite"):
        return _sqlite_urls(text)
    if scheme.startswith("postgresql"):
        blobs = os.environ.get(BLOBS_ENV)
        if not blobs:
            raise InvalidValueError(
                f"{text}: a PostgreSQL store needs a blob store too; set CAIRN_BLOBS (a folder "
                "or s3://bucket/prefix) first"
            )
        return text, blobs
    raise InvalidValueError(
        f"cairn.mlflow tracks into a cairn workspace, not {text!r}: give a folder, "
        "sqlite:///path or postgresql://...; `cairn import mlflow SOURCE` copies the runs of "
        "an MLflow store into one"
    )


def _folder_urls(path: Path) -> tuple[str, str]:
    path = path.resolve()
    if path.name == DIRNAME:
        (path / BLOBS_DIRNAME).mkdir(parents=True, exist_ok=True)
        return urls_for_root(path)
    if (path / ".trash").is_dir() or (path / "0" / "meta.yaml").is_file():
        raise InvalidValueError(
            f"{path} is an MLflow file store; cairn does not write into it. "
            f"`cairn import mlflow {path}` copies its runs into a cairn workspace"
        )
    return urls_for_root(init_root(path))


def _sqlite_urls(url: str) -> tuple[str, str]:
    _, _, location = url.partition(":///")
    if not location or location.startswith(":memory:"):
        raise InvalidValueError(
            f"{url}: cairn needs a database file that other processes can open "
            "(sqlite:///path/cairn.db)"
        )
    path = Path(unquote(location.split("?", 1)[0])).expanduser().resolve()
    if _is_mlflow_database(path):
        raise InvalidValueError(
            f"{path} is an MLflow database; cairn does not write into it. "
            f"`cairn import mlflow {url}` copies its runs into a cairn workspace"
        )
    return f"sqlite:///{path}", str(path.parent / BLOBS_DIRNAME)


def _is_mlflow_database(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            marks = ", ".join("?" * len(_MLFLOW_TABLES))
            found = conn.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
                _MLFLOW_TABLES,
            ).fetchall()
    except sqlite3.DatabaseError:  # not a database at all: cairn's own open says so
        return False
    return bool(found)
