"""Every compute test runs on every backend: `local`, `thread`, and a real local Ray."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import cairn.compute
from cairn.compute import Executor
from tests.compute.helpers import Gate, Mailbox

BACKENDS = ["local", "thread", pytest.param("ray", marks=pytest.mark.ray)]


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
