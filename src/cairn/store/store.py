"""`Store`: one workspace's metadata database and blob store, and values in and out of them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager

import sqlalchemy as sa

from cairn import codecs
from cairn.codecs.registry import codec_named
from cairn.config import Workspace
from cairn.errors import NotFoundError
from cairn.store import schema
from cairn.store.blobs import BlobStore, open_blob_store
from cairn.store.database import create_engine, dialect_insert, migrate, read


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

    def writer(self) -> AbstractContextManager[sa.Connection]:
        """A connection inside a transaction, committed when the block ends without error."""
        self._after_fork()
        return self.engine.begin()

    def _after_fork(self) -> None:
        # Pooled connections inherited from a parent process must not be shared with it.
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def put_value(self, value: object, *, codec: str | None = None) -> str:
        """Encode `value` (with codec `codec`, e.g. "json", or the one `codecs.encode`
        picks), store its bytes once, record the blob; returns the digest."""
        (digest,) = self.put_values([value], codec=codec)
        return digest

    def put_values(self, values: Iterable[object], *, codec: str | None = None) -> list[str]:
        """`put_value` for many values, recorded in one transaction. `values` may be a
        generator: each value's bytes are written before the next one is asked for."""
        rows = []
        for value in values:
            encoded = codecs.encode(value, codec=codec)
            digest = self.blobs.put(encoded.data)
            size = memoryview(encoded.data).nbytes
            rows.append(_blob_row(digest, size, encoded.codec, encoded.meta))
        with self.writer() as conn:
            _insert_blob_rows(conn, rows)
        return [row["digest"] for row in rows]

    def record_blob(self, digest: str, size: int, codec: str, meta: dict) -> None:
        """Record a blob already in the blob store, written by codec `codec` (a name the codec
        registry knows, so that `get_value` can decode it)."""
        self.record_blobs([(digest, size, codec, meta)])

    def record_blobs(
        self,
        blobs: Iterable[tuple[str, int, str, dict]],
        *,
        links: Iterable[tuple[str, str]] = (),
    ) -> None:
        """`record_blob` for each (digest, size, codec, meta), and each (parent, child) link
        (a manifest or a code record naming its files, so gc keeps them), in one transaction."""
        rows = []
        for digest, size, codec, meta in blobs:
            codec_named(codec)
            rows.append(_blob_row(digest, size, codec, meta))
        link_rows = [{"parent": parent, "child": child} for parent, child in links]
        with self.writer() as conn:
            _insert_blob_rows(conn, rows)
            if link_rows:
                conn.execute(
                    dialect_insert(conn, schema.blob_links).on_conflict_do_nothing(), link_rows
                )

    def get_value(self, digest: str) -> object:
        with self.reader() as conn:
            row = conn.execute(
                sa.select(schema.blobs.c.codec, schema.blobs.c.meta).where(
                    schema.blobs.c.digest == digest
                )
            ).first()
        if row is None:
            raise NotFoundError(f"no blob {digest} is recorded in {self.description}")
        return codecs.decode(row.codec, self.blobs.get(digest), json.loads(row.meta))


def _blob_row(digest: str, size: int, codec: str, meta: dict) -> dict:
    return {
        "digest": digest,
        "size": size,
        "codec": codec,
        "meta": json.dumps(meta, sort_keys=True),
        "created": time.time(),
    }


def _insert_blob_rows(conn: sa.Connection, rows: list[dict]) -> None:
    # A blob stored twice keeps its first row: same digest, same bytes.
    if rows:
        conn.execute(dialect_insert(conn, schema.blobs).on_conflict_do_nothing(), rows)
