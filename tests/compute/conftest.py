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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect, visibly, the tests a module lists in its NOT_APPLICABLE (a test's name, or
    `Class.name`, to the reason): test_cpython_futures.py's tests of the standard pools'
    internals."""
    kept, deselected = [], []
    for item in items:
        listed = getattr(getattr(item, "module", None), "NOT_APPLICABLE", {})
        cls = getattr(item, "cls", None)
        qualified = f"{cls.__name__}.{item.name}" if cls is not None else item.name
        (deselected if item.name in listed or qualified in listed else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
