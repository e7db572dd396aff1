"""The stores this process has opened: one `Store` per workspace, shared by every caller."""

from __future__ import annotations

import threading

from cairn.config import Workspace, find_workspace
from cairn.store.store import Store

_stores: dict[tuple[str, str], Store] = {}
_lock = threading.Lock()


def get_store(workspace: Workspace | None = None, *, create: bool = True) -> Store:
    """The store of `workspace` (found from the environment by default), opened once."""
    workspace = workspace or find_workspace(create=create)
    key = (workspace.store_url, workspace.blobs_url)
    with _lock:
        if key not in _stores:
            _stores[key] = Store.open(workspace)
        return _stores[key]


def open_stores() -> list[Store]:
    """The stores this process has opened."""
    with _lock:
        return list(_stores.values())


def reset_store() -> None:
    """Forget opened stores (tests switch workspaces through the environment)."""
    with _lock:
        for store in _stores.values():
            store.engine.dispose()
        _stores.clear()
