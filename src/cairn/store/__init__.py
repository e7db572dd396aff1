"""The store: a metadata database plus a content-addressed blob store, opened from URLs."""

from cairn.store import schema
from cairn.store.database import read
from cairn.store.opened import get_store, open_stores, reset_store
from cairn.store.store import Store

__all__ = ["Store", "get_store", "open_stores", "read", "reset_store", "schema"]
