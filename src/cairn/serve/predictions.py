"""The prediction log: every answer gets an id; a sample of them is written to the store.

The hot path pays for one random draw per prediction, and for a tuple appended to a deque
when the prediction is sampled. One writer thread per log turns the queued tuples into JSON
and writes them in batches, each batch (the rows and their lineage edges, `prediction:ID`
used `artifact:ID`) in one transaction, so a prediction leads to its model version, that
version's run, and the run's data and code.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import orjson
import sqlalchemy as sa

from cairn.errors import CairnError, CodecError, InvalidValueError, NotFoundError
from cairn.store import Store, schema
from cairn.store.database import dialect_insert
from cairn.store.nodes import Relation, artifact_node, prediction_node

log = logging.getLogger(__name__)

MAX_BATCH_ROWS = 5_000  # rows per transaction when the writer has a backlog
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base-32 digits per entry: a ULID's 130 bits are 13 lookups of 10 bits.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_clock: list[tuple[int, str]] = [(-1, "")]  # the millisecond new_id last saw, its ULID digits


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    name: str
    version: int
    artifact_id: int
    ts: float
    inputs: object  # decoded JSON
    outputs: object
    latency_ms: float | None
    route: str
    shadow: bool
    fallback: bool

    @property
    def node(self) -> str:
        """Its id in the lineage graph."""
        return prediction_node(self.id)


class _Flush:
    """A marker in the queue: set once every prediction queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class PredictionLog:
    """Samples predictions and writes them in batches on one writer thread, off the hot path.

    `record` is meant for one thread (the server's event loop): it never blocks, and the
    counters it keeps are exact only when one thread calls it."""

    def __init__(
        self,
        store: Store,
        *,
        sample: float = 0.01,
        flush_s: float = 0.5,
        max_queue: int = 100_000,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise InvalidValueError(f"sample is a share between 0 and 1, got {sample}")
        if flush_s <= 0 or max_queue < 1:
            raise InvalidValueError("flush_s and max_queue must be positive")
        self.store = store
        self.sample = sample
        self.flush_s = flush_s
        self.max_queue = max_queue
        self._draw = (rng or random.Random()).random
        self._queue: deque = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self.kept = 0
        self._refused = 0  # counted by the caller's thread
        self._failed = 0  # counted by the writer thread
        self._thread = threading.Thread(target=self._run, name="cairn-prediction-log", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Sampled predictions not written: the queue was full or closed, or the write failed."""
        return self._refused + self._failed

    @staticmethod
    def new_id() -> str:
        """A new ULID (the 26-character text python-ulid reads), unique per prediction.

        Built here because python-ulid takes about 5 µs an id, a tenth of what the server may
        spend on a request; this takes under 1 µs. 80 random bits per id, as ULIDs have."""
        ms = time.time_ns() // 1_000_000
        seen, stamp = _clock[0]
        if ms != seen:
            stamp = "".join(_PAIRS[(ms >> shift) & 1023] for shift in (40, 30, 20, 10, 0))
            _clock[0] = (ms, stamp)  # one tuple, so other threads see both or neither
        r = random.getrandbits(80)
        p = _PAIRS
        return "".join(
            (stamp, p[r >> 70], p[(r >> 60) & 1023], p[(r >> 50) & 1023],
             p[(r >> 40) & 1023], p[(r >> 30) & 1023], p[(r >> 20) & 1023],
             p[(r >> 10) & 1023], p[r & 1023])
        )  # fmt: skip

    def record(
        self,
        prediction_id: str,
        *,
        name: str,
        version: int,
        artifact_id: int,
        inputs: object,
        outputs: object,
        latency_ms: float,
        route: str,
        shadow: bool = False,
        fallback: bool = False,
    ) -> bool:
        """Keep this prediction with probability `sample`; whether it was kept. `inputs` and
        `outputs` are held as they are until the writer serializes them: do not change them."""
        if self._draw() >= self.sample:
            return False
        if self._closed or len(self._queue) >= self.max_queue:
            self._refused += 1
            return False
        self._queue.append(
            (prediction_id, name, version, artifact_id, time.time(), inputs, outputs,
             latency_ms, route, shadow, fallback)
        )  # fmt: skip
        self.kept += 1
        return True

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every prediction kept before this call is written (or failed)."""
        if not self._thread.is_alive():
            return
        marker = _Flush()
        self._queue.append(marker)
        self._wake.set()
        if not marker.done.wait(timeout):
            raise CairnError(
                f"the prediction log did not write its queue within {timeout} s "
                f"({len(self._queue)} waiting); is {self.store.description} reachable?"
            )

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer; later predictions are not kept.
        A full queue takes seconds: SQLite takes about 13,000 rows a second."""
        self._closed = True
        try:
            self.flush(timeout)
        finally:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            stopping = self._stopping
            self._drain()
            if stopping:
                return

    def _drain(self) -> None:
        """Write everything queued, MAX_BATCH_ROWS at a time, then release the flushes."""
        batch: list[tuple] = []
        markers: list[_Flush] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _Flush):
                markers.append(item)
                continue
            batch.append(item)
            if len(batch) == MAX_BATCH_ROWS:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)
        for marker in markers:
            marker.done.set()

    def _write(self, batch: list[tuple]) -> None:
        rows = []
        for item in batch:
            try:
                rows.append(_row(item))
            except Exception as exc:  # whatever one prediction holds, the writer goes on
                self._failed += 1
                log.warning("prediction %s not logged: %s", item[0], exc.__cause__ or exc)
        try:
            self._insert(rows)
        except sa.exc.IntegrityError:
            # One bad row (a repeated id, an artifact that is gone) must not lose the batch.
            for row in rows:
                try:
                    self._insert([row])
                except sa.exc.IntegrityError as exc:
                    self._failed += 1
                    log.warning("prediction %s not logged: %s", row["id"], exc.orig)
        except Exception:
            self._failed += len(rows)
            log.exception("%d prediction(s) not logged to %s", len(rows), self.store.description)

    def _insert(self, rows: list[dict]) -> None:
        if not rows:
            return
        edges = [
            {
                "src": prediction_node(row["id"]),
                "dst": artifact_node(row["artifact_id"]),
                "relation": Relation.USED.value,
                "created": row["ts"],
            }
            for row in rows
        ]
        with self.store.writer() as conn:
            conn.execute(schema.predictions.insert(), rows)
            conn.execute(dialect_insert(conn, schema.lineage_edges).on_conflict_do_nothing(), edges)


def _row(item: tuple) -> dict:
    (prediction_id, name, version, artifact_id, ts, inputs, outputs,
     latency_ms, route, shadow, fallback) = item  # fmt: skip
    return {
        "id": prediction_id,
        "name": name,
        "version": int(version),
        "artifact_id": int(artifact_id),
        "ts": ts,
        "inputs": _json(inputs),
        "outputs": None if outputs is None else _json(outputs),
        "latency_ms": latency_ms,
        "route": str(route),
        "shadow": bool(shadow),
        "fallback": bool(fallback),
    }


def _json(value: object) -> str:
    return orjson.dumps(value, default=_plain, option=_JSON_OPTIONS).decode()


def _plain(value: object) -> object:
    """What orjson cannot write by itself: frames and series, arrays it does not take
    (strings, objects, non-contiguous), NumPy scalars, dates of other types than its own."""
    pd = sys.modules.get("pandas")  # a frame can only come from a pandas already imported
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return value.to_dict("split")
        if isinstance(value, pd.Series | pd.Index):
            return value.tolist()
        if value is pd.NA:
            return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise CodecError(f"cannot write a {type(value).__qualname__} as JSON")


def get_prediction(store: Store, prediction_id: str) -> PredictionRecord:
    """The logged prediction `prediction_id`."""
    table = schema.predictions
    with store.reader() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == prediction_id.upper())).first()
    if row is None:
        raise NotFoundError(
            f"prediction {prediction_id} is not in the log of {store.description}: only a "
            "sample (default 1 %) is kept; serve with --sample 1 to keep every prediction, "
            "and `cairn predictions ls` lists the kept ones"
        )
    return _record(row)


def list_predictions(
    store: Store, *, name: str | None = None, limit: int = 50
) -> list[PredictionRecord]:
    """The newest logged predictions, of model `name` if given."""
    if limit < 1:
        raise InvalidValueError(f"limit must be 1 or more, not {limit}")
    table = schema.predictions
    query = sa.select(table).order_by(table.c.ts.desc(), table.c.id.desc()).limit(limit)
    if name is not None:
        query = query.where(table.c.name == name)
    with store.reader() as conn:
        return [_record(row) for row in conn.execute(query)]


def _record(row: sa.Row) -> PredictionRecord:
    return PredictionRecord(
        row.id,
        row.name,
        row.version,
        row.artifact_id,
        row.ts,
        orjson.loads(row.inputs),
        None if row.outputs is None else orjson.loads(row.outputs),
        row.latency_ms,
        row.route,
        bool(row.shadow),
        bool(row.fallback),
    )
