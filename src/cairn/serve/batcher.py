"""Adaptive batching to a latency objective, after Clipper (NSDI 2017).

Requests wait in one queue per batcher. One asyncio task per batcher takes up to
`batch_size` rows at a time and hands them to the executor in ONE call, which concatenates
them, predicts and splits the outputs back by request; the event loop only enqueues and
resolves futures, so `submit` costs a few microseconds. One batch runs at a time: while it
runs, the next one gathers in the queue. Under light load (the last batch was not full),
before taking a batch that is not full either, the task lingers (yields to the loop, no
timer) while requests keep arriving, for at most `max_wait_s`: requests already on their
way join, and an idle pause ends the wait at once.

The batch size follows AIMD on the batch's time in the executor: +`AIMD_STEP` rows after a
full batch (the size was the limit) that took at most half the SLO, halved after one that
took longer. Half, because a request may arrive just after a batch started: it waits for
that batch, then for its own, and both must fit the SLO. A batch the size did not limit
moves nothing: it says nothing about bigger batches, and shrinking a limit that did not
bind would only cut throughput when the time came from elsewhere (a busy core).

The queueing part of the latency is admission's: a request is refused at once when the
batch in flight, the queue ahead of it and its own batch would take longer than the SLO,
by a fit of batch time on rows (`_BatchCost`). With nothing ahead a request is always
admitted, since refusing it could not answer sooner.

Everything but the executor call runs on the event loop thread the batcher was first used
on; nothing is locked.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any, NamedTuple, Protocol

import numpy as np

from cairn.errors import InvalidValueError, OverloadedError, PredictError

log = logging.getLogger(__name__)

AIMD_START = 16  # the first batch size (capped by max_batch)
AIMD_STEP = 4  # rows added after each batch that fit its budget
MAX_WAIT_CAP_S = 0.002  # the default linger is a tenth of the SLO, at most this
COST_DECAY = 0.9  # weight of the cost history per new batch: about the last ten batches count
COST_WARMUP = 8  # batches timed before the fit is used: the first few are noisy


@dataclass(frozen=True)
class BatchStats:
    """One batch as it ran: `queue_s` is the longest wait of its requests before it started,
    `predict_s` the time of its work in the executor (concatenate, predict, split)."""

    size: int
    rows: int
    queue_s: float
    predict_s: float


class BatchObserver(Protocol):
    def batch(self, stats: BatchStats) -> None: ...


class _Request(NamedTuple):
    inputs: object
    rows: int
    future: asyncio.Future
    queued: float  # time.monotonic() when it joined the queue
    deadline: float | None


class _BatchCost:
    """A batch's time as `fixed + per_row * rows`, fitted by exponentially weighted least
    squares over recent batches, so that the wait of any queue can be estimated for any
    batch size.

    Until `COST_WARMUP` batches are timed a batch costs nothing: a batcher that has barely
    run (a version just loaded by a hot reload, whose first batches meet a cold cache and a
    busy loop) admits everything rather than refuse traffic on a few noisy timings."""

    def __init__(self) -> None:
        self.fixed = self.per_row = 0.0
        self._timed = 0
        self._slow = False  # the last batch was far slower than the fit
        self._w = self._x = self._y = self._xx = self._xy = 0.0

    def of(self, rows: int) -> float:
        return self.fixed + self.per_row * rows

    def add(self, rows: int, seconds: float) -> None:
        # A lone batch far slower than the fit (a preempted thread, a garbage collection)
        # counts as 2x the fit; from the second in a row on, slow batches count in full.
        limit = 2 * self.of(rows)
        slow = 0 < limit < seconds
        if slow and not self._slow:
            seconds = limit
        self._slow = slow
        d = COST_DECAY
        self._w = d * self._w + 1.0
        self._x = d * self._x + rows
        self._y = d * self._y + seconds
        self._xx = d * self._xx + rows * rows
        self._xy = d * self._xy + rows * seconds
        self._timed += 1
        if self._timed < COST_WARMUP:
            return
        mean_x, mean_y = self._x / self._w, self._y / self._w
        spread = self._xx / self._w - mean_x * mean_x
        if spread >= 1.0:  # batch sizes differed by a row or more: the slope is measurable
            self.per_row = max(0.0, (self._xy / self._w - mean_x * mean_y) / spread)
            self.fixed = max(0.0, mean_y - self.per_row * mean_x)
        else:  # one batch size seen: half fixed, half per row, at most 2x off either way
            self.fixed = mean_y / 2
            self.per_row = mean_y / 2 / max(mean_x, 1.0)


class Batcher:
    """Adaptive batching to a latency objective (Clipper, NSDI'17): AIMD on the batch size.

    `predict` takes the concatenated inputs of a batch and runs on `executor` (by default a
    thread of this batcher's own). Call `submit`, `drain` and `close` on the event loop
    thread; the batcher belongs to the loop of its first `submit`."""

    def __init__(
        self,
        predict: Callable[[object], object],
        *,
        slo_s: float,
        max_batch: int = 512,
        max_wait_s: float | None = None,
        executor: Executor | None = None,
        observer: BatchObserver | None = None,
        name: str = "",
    ) -> None:
        if not slo_s > 0:
            raise InvalidValueError(f"slo_s must be a positive number of seconds, not {slo_s!r}")
        if not (isinstance(max_batch, int) and max_batch >= 1):
            raise InvalidValueError(f"max_batch must be an int of at least 1, not {max_batch!r}")
        if max_wait_s is None:
            max_wait_s = min(slo_s / 10, MAX_WAIT_CAP_S)
        if not max_wait_s >= 0:
            raise InvalidValueError(f"max_wait_s must be 0 or more seconds, not {max_wait_s!r}")
        self._predict = predict
        self._slo = slo_s
        self._budget = slo_s / 2  # one batch's share of the SLO (see the module's docstring)
        self._max_batch = max_batch
        self._max_wait = max_wait_s
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"batch {name}")
        self._observer = observer
        self._label = name or "the model"
        self._size = min(AIMD_START, max_batch)
        self._cost = _BatchCost()
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._arrivals = 0  # requests ever queued: the linger watches it move
        self._running: list[_Request] = []
        self._running_rows = 0
        self._running_since = 0.0
        self._cold = True  # the first batch starts the thread and pays first-call costs
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None

    @property
    def batch_size(self) -> int:
        """The current AIMD target: the most rows the next batch takes."""
        return self._size

    async def submit(self, inputs: object, *, deadline: float | None = None) -> object:
        """The model's outputs for `inputs` (an ndarray with rows on axis 0, or a DataFrame),
        predicted in a batch with other requests and split back: the type the model
        returns, holding this request's rows only. `deadline` is a `time.monotonic()`
        instant by which the answer is needed (the SLO applies when it is later or None).

        Raises OverloadedError at once, before queueing, when the work queued ahead would
        make the answer later than the time left (or the batcher is closing), and
        PredictError when predict raised on this request's batch."""
        rows = _rows(inputs)
        if self._closing:
            raise OverloadedError(f"{self._label} is shutting down; retry", retry_after=1.0)
        now = time.monotonic()
        budget = self._slo if deadline is None else min(self._slo, deadline - now)
        wait = self._estimate(rows, now)
        # With nothing ahead, refusing cannot make the request faster, and its batch keeps
        # the estimate current; a batcher that refused then would refuse forever.
        if wait > budget and (self._queued_rows or self._running_rows or budget <= 0):
            retry_after = max(wait - budget, 0.001)
            raise OverloadedError(
                f"{self._label} is overloaded: answering now would take about "
                f"{wait * 1e3:.1f} ms, over the {budget * 1e3:.1f} ms this request allows; "
                f"retry after {retry_after:.3f} s",
                retry_after=retry_after,
            )
        loop = self._loop or self._start()
        future = loop.create_future()
        self._queue.append(_Request(inputs, rows, future, now, deadline))
        self._queued_rows += rows
        self._arrivals += 1
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set_result(None)
        return await future

    def _estimate(self, rows: int, now: float) -> float:
        """Seconds until a request of `rows` queued now would be answered: the rest of the
        batch in flight, then the batches the queue and this request fill."""
        cost = self._cost
        ahead = self._queued_rows + rows
        wait = -(-ahead // self._size) * cost.fixed + ahead * cost.per_row
        if self._running_rows:
            wait += max(0.0, cost.of(self._running_rows) - (now - self._running_since))
        return wait

    def _start(self) -> asyncio.AbstractEventLoop:
        self._loop = loop = asyncio.get_running_loop()
        self._worker = loop.create_task(self._work(), name=f"batcher {self._label}")
        return loop

    async def drain(self) -> None:
        """Refuse new requests, answer every one queued, then stop."""
        self._closing = True
        worker = self._worker
        if worker is not None and not worker.done():
            self._wake()
            await asyncio.shield(worker)
        self._release_executor()

    def close(self) -> None:
        """Stop now: queued and running requests fail with OverloadedError (call `drain`
        first to answer them)."""
        self._closing = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if self._worker is not None:
                self._worker.cancel()
            for request in (*self._running, *self._queue):
                if not request.future.done():
                    request.future.set_exception(
                        OverloadedError(f"{self._label} was closed; retry", retry_after=1.0)
                    )
        self._queue.clear()
        self._queued_rows = 0
        self._release_executor()

    def _release_executor(self) -> None:
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set_result(None)

    async def _work(self) -> None:
        queue = self._queue
        full = False  # the last batch was: the load is heavy, and the next one starts at once
        while queue or not self._closing:
            if not queue:
                self._wakeup = self._loop.create_future()
                await self._wakeup
                continue
            if not full and self._queued_rows < self._size and self._max_wait > 0:
                await self._linger()
            limit = self._size
            batch = self._take()
            if batch:
                # The size was the limit only if rows were left behind or it was reached.
                full = bool(queue) or _rows_of(batch) >= limit
                await self._run(batch, full=full)

    async def _linger(self) -> None:
        """Under light load (the last batch was not full), give requests already on their
        way a chance to join: yield to the loop while new ones keep arriving, until the
        batch is full or the oldest has waited `max_wait_s`. No timer, so an idle pause
        ends the wait at once. Under heavy load the next batch starts at once, so the
        model runs while the loop takes the next requests in."""
        until = self._queue[0].queued + self._max_wait
        while self._queued_rows < self._size:
            seen = self._arrivals
            await asyncio.sleep(0)
            if self._arrivals == seen or time.monotonic() >= until:
                return

    def _take(self) -> list[_Request]:
        """Up to `batch_size` rows from the queue (a bigger request goes alone), skipping
        requests their callers gave up on and refusing those past their deadline."""
        queue = self._queue
        batch: list[_Request] = []
        rows, limit = 0, self._size
        now = time.monotonic()
        while queue and (not batch or rows + queue[0].rows <= limit):
            request = queue.popleft()
            self._queued_rows -= request.rows
            if request.future.done():  # cancelled: a straggler policy answered without it
                continue
            if request.deadline is not None and now > request.deadline:
                request.future.set_exception(
                    OverloadedError(
                        f"{self._label} could not start this request before its deadline",
                        retry_after=max(now - request.queued, 0.001),
                    )
                )
                continue
            batch.append(request)
            rows += request.rows
        return batch

    async def _run(self, batch: list[_Request], *, full: bool) -> None:
        rows = _rows_of(batch)
        started = time.monotonic()
        self._running, self._running_rows, self._running_since = batch, rows, started
        inputs = [request.inputs for request in batch]
        counts = [request.rows for request in batch]
        try:
            answers, predict_s = await self._loop.run_in_executor(
                self._executor, _predict_batch, self._predict, self._label, inputs, counts
            )
        except RuntimeError as exc:  # the executor was shut down under this batch
            answers, predict_s = [_failure(self._label, exc) for _ in batch], 0.0
        finally:
            self._running, self._running_rows = [], 0
        failed = False
        for request, answer in zip(batch, answers, strict=True):
            if isinstance(answer, PredictError):
                failed = True
                if not request.future.done():
                    request.future.set_exception(answer)
            elif not request.future.done():
                request.future.set_result(answer)
        if failed or self._cold:  # neither time says what the model's batches cost
            self._cold = False
        else:
            self._cost.add(rows, predict_s)
            if full:
                self._adapt(predict_s)
        if self._observer is not None:
            stats = BatchStats(len(batch), rows, started - batch[0].queued, predict_s)
            try:
                self._observer.batch(stats)
            except Exception:  # an observer's fault must not stop the serving
                log.exception("batch observer of %s failed", self._label)

    def _adapt(self, seconds: float) -> None:
        """AIMD, after a batch the size limited: a smaller batch did not say how a bigger
        one would fare, and halving the limit of a batch it did not limit would only cut
        throughput (its time came from elsewhere: the model's fixed cost, a busy core)."""
        if seconds <= self._budget:
            self._size = min(self._max_batch, self._size + AIMD_STEP)
        else:
            self._size = max(1, self._size // 2)


def _rows_of(batch: list[_Request]) -> int:
    return sum(request.rows for request in batch)


def _rows(inputs: object) -> int:
    try:
        return len(inputs)  # type: ignore[arg-type]
    except TypeError:  # a 0-d array or a scalar: one row
        return 1


# --- in the executor thread ----------------------------------------------------------------


def _predict_batch(
    predict: Callable[[object], object], label: str, inputs: list[object], counts: list[int]
) -> tuple[list[object], float]:
    """Each request's outputs, or a PredictError for every request of a group whose predict
    raised, and the seconds it took. Requests of one layout (dtype and row shape, or columns
    and dtypes) are predicted together; others, and outputs that do not split by rows, one
    at a time.

    The time is taken here, not on the loop: a busy loop is late to collect the answers
    whatever the batch size, and AIMD must not take that lateness for the batch's cost."""
    started = time.perf_counter()
    answers: list[object] = [None] * len(inputs)
    for members in _groups(inputs):
        try:
            if len(members) == 1:
                answers[members[0]] = predict(inputs[members[0]])
                continue
            outputs = predict(_concat([inputs[i] for i in members]))
            parts = _split(outputs, [counts[i] for i in members])
            if parts is None:
                parts = [predict(inputs[i]) for i in members]
        except Exception as exc:
            for i in members:
                answers[i] = _failure(label, exc)
            continue
        for i, part in zip(members, parts, strict=True):
            answers[i] = part
    return answers, time.perf_counter() - started


def _failure(label: str, exc: Exception) -> PredictError:
    error = PredictError(f"{label}: predict raised {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _groups(inputs: list[object]) -> Iterable[list[int]]:
    groups: dict[object, list[int]] = {}
    for i, item in enumerate(inputs):
        groups.setdefault(_layout(item, i), []).append(i)
    return groups.values()


def _layout(item: object, index: int) -> object:
    """What inputs must share to be concatenated; `index` (a group of one) when nothing."""
    if isinstance(item, np.ndarray) and item.ndim:
        return (item.dtype, item.shape[1:])
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(item, pd.DataFrame):
        return (tuple(item.columns), tuple(item.dtypes))
    return index


def _concat(parts: list[Any]) -> object:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def _split(outputs: Any, counts: list[int]) -> list[object] | None:
    """`outputs` cut into consecutive pieces of `counts` rows; None when they are not one
    row per input row (a summary, a tuple of arrays, an unknown type)."""
    if isinstance(outputs, tuple) or not hasattr(outputs, "__len__"):
        return None
    if len(outputs) != sum(counts):
        return None
    bounds = pairwise(accumulate(counts, initial=0))
    if isinstance(outputs, np.ndarray | list):
        return [outputs[start:stop] for start, stop in bounds]
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(outputs, pd.DataFrame | pd.Series):
        return [outputs.iloc[start:stop].reset_index(drop=True) for start, stop in bounds]
    return None
