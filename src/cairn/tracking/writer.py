"""The background metric writer: `run.log` appends to a list, a thread writes it in batches.

One writer per store and process. Rows are written in one transaction per batch with a
driver-level executemany, and the latest value of each metric is upserted in the same
transaction, so a reader never sees a metric without its latest value. The writer also
beats the heartbeat of the process's open runs, which lets readers tell a live run from
one whose process died.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable

import sqlalchemy as sa

from cairn.store import Store, schema
from cairn.store.database import dialect_insert

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5
BATCH_ROWS = 50_000
HEARTBEAT_INTERVAL_S = 10.0

Row = tuple[str, str, int, float, float]  # run_id, key, step, value, ts


class MetricWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[Row] = []
        self.lock = threading.Lock()  # guards `pending`; held only for appends and swaps
        self._write_lock = threading.Lock()  # one batch in flight at a time, in order
        self._wake = threading.Event()
        self._stopped = False
        self._error: BaseException | None = None
        self._live_runs: set[str] = set()
        self._last_beat = 0.0
        placeholder = "?" if store.dialect == "sqlite" else "%s"
        self._insert_sql = (
            "INSERT INTO metrics (run_id, key, step, value, ts) VALUES "
            f"({', '.join([placeholder] * 5)})"
        )
        self._thread = threading.Thread(target=self._loop, name="cairn-metric-writer", daemon=True)
        self._thread.start()

    def wake_if_full(self) -> None:
        if len(self.pending) >= BATCH_ROWS:
            self._wake.set()

    def add_live_run(self, run_id: str) -> None:
        self._live_runs.add(run_id)

    def remove_live_run(self, run_id: str) -> None:
        self._live_runs.discard(run_id)

    def flush(self) -> None:
        """Write everything appended so far; when this returns it is committed."""
        with self._write_lock:
            self._write_pending()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                with self._write_lock:
                    self._write_pending()
                    self._beat()
            except Exception as exc:  # keep the rows and retry; flush() reports the error
                log.warning("cairn could not write metrics yet: %s", exc)
                self._error = exc

    def _write_pending(self) -> None:
        with self.lock:
            rows, self.pending = self.pending, []
        if not rows:
            return
        try:
            with self.store.writer() as conn:
                conn.exec_driver_sql(self._insert_sql, rows)
                self._upsert_latest(conn, rows)
        except BaseException:
            with self.lock:  # put them back in front, in order, for the next attempt
                self.pending[:0] = rows
            raise

    def _upsert_latest(self, conn: sa.Connection, rows: Iterable[Row]) -> None:
        latest: dict[tuple[str, str], Row] = {}
        for row in rows:
            key = (row[0], row[1])
            if key not in latest or row[2] >= latest[key][2]:
                latest[key] = row
        table = schema.latest_metrics
        stmt = dialect_insert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.run_id, table.c.key],
            set_={"step": stmt.excluded.step, "value": stmt.excluded.value, "ts": stmt.excluded.ts},
            where=stmt.excluded.step >= table.c.step,
        )
        conn.execute(
            stmt,
            [
                {"run_id": r[0], "key": r[1], "step": r[2], "value": r[3], "ts": r[4]}
                for r in latest.values()
            ],
        )

    def _beat(self) -> None:
        now = time.time()
        if not self._live_runs or now - self._last_beat < HEARTBEAT_INTERVAL_S:
            return
        with self.store.writer() as conn:
            conn.execute(
                schema.runs.update()
                .where(schema.runs.c.id.in_(list(self._live_runs)))
                .values(heartbeat=now)
            )
        self._last_beat = now


_writers: dict[int, MetricWriter] = {}
_writers_lock = threading.Lock()


def writer_for(store: Store) -> MetricWriter:
    with _writers_lock:
        writer = _writers.get(id(store))
        if writer is None:
            writer = _writers[id(store)] = MetricWriter(store)
        return writer


def flush_all() -> None:
    for writer in list(_writers.values()):
        writer.flush()


def _forget_in_child() -> None:
    # A forked child has the parent's writer objects but not their threads.
    _writers.clear()


os.register_at_fork(after_in_child=_forget_in_child)
