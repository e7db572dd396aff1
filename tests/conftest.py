"""Fixtures: a fresh workspace per test, on SQLite + a folder, PostgreSQL, or S3 (moto)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.states import RunStatus
from cairn.store import get_store, reset_store
from cairn.tracking import active

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("CAIRN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty SQLite + folder workspace, selected through CAIRN_STORE / CAIRN_BLOBS."""
    monkeypatch.setenv("CAIRN_STORE", f"sqlite:///{tmp_path / 'cairn.db'}")
    monkeypatch.setenv("CAIRN_BLOBS", str(tmp_path / "blobs"))
    monkeypatch.chdir(tmp_path)
    reset_store()
    yield tmp_path
    _end_open_runs()
    reset_store()


def _end_open_runs() -> None:
    """Runs a test left open (as MLflow's fluent API leaves a run it started on its own)
    end with the test, in its workspace: at the interpreter's exit that workspace, or its
    PostgreSQL database, is gone."""
    active.end_all(RunStatus.FINISHED)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"cairn_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _end_open_runs()
    reset_store()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A real local Ray for the whole session, 2 CPUs."""
    import ray

    # Ray workers import the test helpers by module name, as the local workers do.
    ray.init(
        num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}
    )
    yield
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server, reachable through s3fs."""
    import boto3
    import fsspec

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    bucket = f"cairn-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/blobs"


BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("s3", marks=pytest.mark.s3),
]


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The tracking suite runs once per backend: SQLite+folder, PostgreSQL+folder,
    SQLite+S3. Yields the backend's name; the workspace is selected through the environment."""
    store_url = f"sqlite:///{tmp_path / 'cairn.db'}"
    blobs_url = str(tmp_path / "blobs")
    if request.param == "postgres":
        store_url = request.getfixturevalue("pg_url")
    elif request.param == "s3":
        blobs_url = request.getfixturevalue("s3_url")
    monkeypatch.setenv("CAIRN_STORE", store_url)
    monkeypatch.setenv("CAIRN_BLOBS", blobs_url)
    monkeypatch.chdir(tmp_path)
    reset_store()
    get_store()
    yield request.param
    _end_open_runs()
    reset_store()


def run_python(
    code: str,
    *,
    env: dict | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the test's environment."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"child failed ({result.returncode}):\n{result.stderr}")
    return result


def git_repo(path: Path, files: dict[str, str]) -> Path:
    """A new git repository at `path` whose first commit holds `files`."""
    path.mkdir(parents=True)
    for args in (
        ["init", "-b", "main"],
        ["config", "user.email", "t@example.com"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    for name, text in files.items():
        (path / name).write_text(text)
    for args in (["add", "."], ["commit", "-m", "first"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path
