"""The store: a metadata database plus a content-addressed blob store, opened from URLs."""

from __future__ import annotations

import json
import os
import threading
import time

import sqlalchemy as sa

from cairn.config import Workspace, find_workspace
from cairn.errors import NotFoundError
from cairn.store import schema
from cairn.store.blobs import BlobStore, open_blob_store
from cairn.store.database import create_engine, dialect_insert, migrate, read

__all__ = ["Store", "get_store", "reset_store", "schema", "read"]


class Store:
    def __init__(self, store_url: str, blobs_url: str, *, description: str = "") -> None:
        self.engine = create_engine(store_url)
        migrate(self.engine)
        self.blobs: BlobStore = open_blob_store(blobs_url)
        self.description = description or f"{store_url} + {blobs_url}"
        self._pid = os.getpid()

    @classmethod
    def open(cls, workspace: Workspace) -> Store:
        return cls(workspace.store_url, workspace.blobs_url, description=workspace.describe())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def reader(self) -> sa.Connection:
        self._after_fork()
        return read(self.engine)

    def writer(self):  # a context manager yielding a Connection inside a transaction
        self._after_fork()
        return self.engine.begin()

    def _after_fork(self) -> None:
        # Pooled connections inherited from a parent process must not be shared with it.
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def put_value(self, value: object) -> str:
        """Encode `value`, store its bytes once, record the blob; returns the digest."""
        from cairn import codecs

        encoded = codecs.encode(value)
        digest = self.blobs.put(encoded.data)
        self.record_blob(
            digest, len(memoryview(encoded.data).cast("B")), encoded.codec, encoded.meta
        )
        return digest

    def record_blob(self, digest: str, size: int, codec: str, meta: dict) -> None:
        row = {
            "digest": digest,
            "size": size,
            "codec": codec,
            "meta": json.dumps(meta, sort_keys=True),
            "created": time.time(),
        }
        with self.writer() as conn:
            conn.execute(dialect_insert(conn, schema.blobs).values(**row).on_conflict_do_nothing())

    def get_value(self, digest: str) -> object:
        from cairn import codecs

        with self.reader() as conn:
            row = conn.execute(
                sa.select(schema.blobs.c.codec, schema.blobs.c.meta).where(
                    schema.blobs.c.digest == digest
                )
            ).first()
        if row is None:
            raise NotFoundError(f"no blob {digest} is recorded in {self.description}")
        return codecs.decode(row.codec, self.blobs.get(digest), json.loads(row.meta))


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
