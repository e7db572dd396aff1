"""Every compute test runs on every backend: `local`, `thread`, and a real local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn.compute
from cairn.compute import Executor
from tests.compute.helpers import Gate, Mailbox

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["local", "thread", pytest.param("ray", marks=pytest.mark.ray)]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    # Ray workers import the test helpers by module name, as the local workers do.
    ray.init(
        num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}
    )
    yield
    ray.shutdown()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


@pytest.fixture
def ex(url: str) -> Iterator[Executor]:
    with cairn.compute.executor(url, workers=2) as executor:
        yield executor


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    door = Gate()
    yield door
    door.open()  # never leave a task blocked, whatever the test did
