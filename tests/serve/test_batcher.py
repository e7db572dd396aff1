"""The adaptive batcher: batching, splitting back, AIMD, admission, failures, drain and close.

Nothing here synchronizes by sleeping. A model can be held inside predict on a
threading.Event the test controls, so that the requests submitted meanwhile are known to
wait in the queue; `_one_pass` yields to the loop once, after which every task created
before it has run up to its first real wait (asyncio runs ready callbacks in order). The
only sleeps are a slow model's cost and, once, the clock passing a deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from cairn.errors import InvalidValueError, OverloadedError, PredictError
from cairn.serve.batcher import (
    AIMD_START,
    AIMD_STEP,
    COST_WARMUP,
    Batcher,
    BatchStats,
    _BatchCost,
)


class Model:
    """A model that records each batch it is given and can be held inside predict."""

    def __init__(self, fn: Callable[[object], object] = lambda batch: batch * 2) -> None:
        self.fn = fn
        self.batches: list[object] = []
        self.entered = threading.Event()
        self.released = threading.Event()
        self.released.set()

    def __call__(self, batch: object) -> object:
        self.batches.append(batch)
        self.entered.set()
        assert self.released.wait(30), "the test never released the model"
        return self.fn(batch)

    @property
    def rows(self) -> list[int]:
        return [len(batch) for batch in self.batches]

    async def hold(self, batcher: Batcher, inputs: object) -> asyncio.Task:
        """Submit `inputs` and return once predict holds it: later requests must queue."""
        self.released.clear()
        self.entered.clear()
        task = asyncio.ensure_future(batcher.submit(inputs))
        assert await asyncio.to_thread(self.entered.wait, 30)
        return task


class Observer:
    def __init__(self) -> None:
        self.stats: list[BatchStats] = []

    def batch(self, stats: BatchStats) -> None:
        self.stats.append(stats)


async def _one_pass() -> None:
    await asyncio.sleep(0)


def _row(value: float, width: int = 3) -> np.ndarray:
    return np.full((1, width), float(value))


async def _behind_one(model: Model, batcher: Batcher, requests: list[object]) -> list[object]:
    """The answers to `requests` (exceptions returned), the first held inside predict until
    the others are queued, so that these go in batches as full as the batch size allows."""
    first = await model.hold(batcher, requests[0])
    rest = [asyncio.ensure_future(batcher.submit(r)) for r in requests[1:]]
    await _one_pass()
    model.released.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def _batched(model: Model, requests: list[object], **settings: object) -> tuple[list, Batcher]:
    async def main() -> tuple[list, Batcher]:
        batcher = Batcher(model, **settings)
        answers = await _behind_one(model, batcher, requests)
        await batcher.drain()
        return answers, batcher

    return asyncio.run(main())


def test_concurrent_single_rows_share_predict_calls() -> None:
    x, y = load_digits(return_X_y=True)
    lr = LogisticRegression(max_iter=300).fit(x[:600], y[:600])
    model = Model(lr.predict)
    observer = Observer()

    async def main() -> list[object]:
        batcher = Batcher(model, slo_s=1.0, observer=observer, name="digits/1")
        answers = await asyncio.gather(*(batcher.submit(x[i : i + 1]) for i in range(200)))
        await batcher.drain()
        return answers

    answers = asyncio.run(main())
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, lr.predict(x[i : i + 1]))
    assert sum(model.rows) == 200
    assert len(model.batches) <= -(-200 // AIMD_START)  # batches of 16 rows and more
    assert [s.rows for s in observer.stats] == model.rows
    assert all(s.size == s.rows and s.queue_s >= 0 and s.predict_s > 0 for s in observer.stats)


def _frame_model(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"total": frame["a"] + frame["b"]})


@pytest.mark.parametrize(
    ("make", "fn"),
    [
        pytest.param(
            lambda v, n: np.full((n, 3), float(v)),
            lambda b: np.column_stack([b.sum(axis=1), b.max(axis=1)]),
            id="ndarray",
        ),
        pytest.param(
            lambda v, n: np.full((n, 3), float(v)),
            lambda b: [f"row {r[0]:g}" for r in b],
            id="list",
        ),
        pytest.param(
            lambda v, n: pd.DataFrame({"a": [v] * n, "b": [10 * v] * n}),
            _frame_model,
            id="dataframe",
        ),
        pytest.param(
            lambda v, n: pd.DataFrame({"a": [v] * n, "b": [10 * v] * n}),
            lambda f: f["a"] * f["b"],
            id="series",
        ),
    ],
)
def test_outputs_are_split_back_by_request(make, fn) -> None:
    model = Model(fn)
    requests = [make(1, 2), make(2, 1), make(3, 3), make(4, 2)]
    answers, _ = _batched(model, requests, slo_s=1.0)
    assert model.rows == [2, 6]  # the three queued requests went in one batch
    for request, answer in zip(requests, answers, strict=True):
        expected = fn(request)
        assert type(answer) is type(expected)
        if isinstance(expected, pd.DataFrame | pd.Series):
            if isinstance(expected, pd.DataFrame):
                pd.testing.assert_frame_equal(answer, expected)
            else:
                pd.testing.assert_series_equal(answer, expected)
        elif isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(answer, expected)
        else:
            assert answer == expected


def test_requests_that_cannot_be_concatenated_are_predicted_apart() -> None:
    model = Model(lambda b: b.sum(axis=1))
    requests = [_row(1), _row(2, width=2), _row(3).astype(np.int64), _row(4), _row(5, width=2)]
    answers, _ = _batched(model, requests, slo_s=1.0)
    for request, answer in zip(requests, answers, strict=True):
        np.testing.assert_array_equal(answer, request.sum(axis=1))
        assert answer.dtype == request.dtype
    # after the held one: width 2 twice together, the int row alone, the float row alone
    assert sorted(model.rows[1:]) == [1, 1, 2]


def test_outputs_that_do_not_split_by_rows_are_predicted_per_request() -> None:
    model = Model(lambda b: float(b.sum()))  # one number for the whole input
    answers, _ = _batched(model, [_row(v) for v in (1, 2, 3)], slo_s=1.0)
    assert answers == [3.0, 6.0, 9.0]
    assert model.rows == [1, 2, 1, 1]  # the batch of two, then each alone


def test_aimd_grows_while_full_batches_fit_and_stops_at_max_batch() -> None:
    model = Model()
    requests = [_row(i) for i in range(151)]
    _, batcher = _batched(model, requests, slo_s=1.0)
    # the held batch did not fill its size and did not move it; each full one added a step
    assert model.rows[:4] == [1, AIMD_START, AIMD_START + AIMD_STEP, AIMD_START + 2 * AIMD_STEP]
    assert batcher.batch_size > AIMD_START + 2 * AIMD_STEP

    model.batches.clear()
    _, batcher = _batched(model, requests, slo_s=1.0, max_batch=20)
    assert max(model.rows) == 20 and batcher.batch_size == 20


def test_aimd_halves_after_a_full_batch_over_the_objective() -> None:
    def slow(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.03)  # the model's cost: over half the 40 ms objective
        return batch

    model = Model(slow)
    _, batcher = _batched(model, [_row(i) for i in range(29)], slo_s=0.04)
    assert model.rows == [1, 16, 8, 4]
    assert batcher.batch_size == 2


def test_overload_is_refused_at_once_and_the_admitted_keep_the_objective() -> None:
    def five_ms(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.005)
        return batch

    model = Model(five_ms)
    slo = 0.1

    async def main() -> tuple[list[float], list[BaseException]]:
        batcher = Batcher(model, slo_s=slo, max_batch=4)
        for rows in [1, 4, 2, 3] * 3:  # time batches of several sizes: the cost is known
            await batcher.submit(np.zeros((rows, 3)))
        first = await model.hold(batcher, _row(0))
        started = time.monotonic()
        tasks = [asyncio.ensure_future(batcher.submit(_row(i))) for i in range(400)]
        await _one_pass()
        # the model is still held: every refusal happened without waiting for it
        refused = [t.exception() for t in tasks if t.done()]
        model.released.set()
        finished: list[float] = []

        async def timed(task: asyncio.Future) -> None:
            await task
            finished.append(time.monotonic() - started)

        await asyncio.gather(first, *(timed(t) for t in tasks if not t.done()))
        await batcher.drain()
        return finished, refused

    finished, refused = asyncio.run(main())
    assert refused and finished  # some refused, some admitted
    assert all(isinstance(e, OverloadedError) and e.retry_after > 0 for e in refused)
    assert "overloaded" in str(refused[0])
    # about slo / 5 ms batches of 4 rows fit; the estimate is the model's, not exact
    assert 40 <= len(finished) <= 120
    assert max(finished) <= 2 * slo


def test_an_idle_batcher_admits_even_a_model_slower_than_the_objective() -> None:
    """Refusing with nothing queued could not answer sooner, and a batcher that did would
    never time another batch: it would refuse for ever."""

    def slow(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.03)
        return batch

    async def main() -> list[object]:
        batcher = Batcher(Model(slow), slo_s=0.02)
        answers = [await batcher.submit(_row(v)) for v in range(4)]
        await batcher.drain()
        return answers

    assert len(asyncio.run(main())) == 4


def test_the_cost_fit_learns_fixed_and_per_row_costs_and_shrugs_off_a_lone_stall() -> None:
    cost = _BatchCost()
    sizes = [1, 8, 16, 32, 4, 64] * 4
    for rows in sizes[: COST_WARMUP - 1]:
        cost.add(rows, 1e-4 + 1e-6 * rows)
    assert cost.of(100) == 0  # still warming up: nothing is refused on a few timings
    for rows in sizes[COST_WARMUP - 1 :]:
        cost.add(rows, 1e-4 + 1e-6 * rows)
    assert cost.fixed == pytest.approx(1e-4) and cost.per_row == pytest.approx(1e-6)
    cost.add(30, 0.05)  # one batch stalled 300x
    assert cost.of(30) < 2 * (1e-4 + 30e-6)
    for rows in [10, 20, 40] * 4:  # the model really became slower
        cost.add(rows, 0.01)
    assert cost.of(20) > 0.005


def test_a_raising_predict_fails_its_batch_only() -> None:
    def picky(batch: np.ndarray) -> np.ndarray:
        if (batch < 0).any():
            raise ValueError("negative input")
        return batch

    model = Model(picky)

    async def main() -> tuple[object, list[object], object]:
        batcher = Batcher(model, slo_s=1.0, name="digits/7")
        held, *failed = await _behind_one(model, batcher, [_row(v) for v in (1, 2, -1, 3)])
        after = await batcher.submit(_row(4))
        await batcher.drain()
        return held, failed, after

    held, failed, after = asyncio.run(main())
    np.testing.assert_array_equal(held, _row(1))
    for error in failed:
        assert isinstance(error, PredictError)
        assert str(error) == "digits/7: predict raised ValueError: negative input"
        assert isinstance(error.__cause__, ValueError)
    np.testing.assert_array_equal(after, _row(4))
    assert model.rows == [1, 3, 1]


def test_drain_answers_what_is_queued_and_refuses_new_requests() -> None:
    model = Model()

    async def main() -> tuple[list[object], BaseException, asyncio.Task]:
        batcher = Batcher(model, slo_s=1.0)
        first = await model.hold(batcher, _row(0))
        queued = [asyncio.ensure_future(batcher.submit(_row(i))) for i in range(1, 11)]
        await _one_pass()
        drained = asyncio.ensure_future(batcher.drain())
        await _one_pass()
        with pytest.raises(OverloadedError, match="shutting down") as refused:
            await batcher.submit(_row(99))
        assert not drained.done()
        model.released.set()
        await drained
        answers = [first.result(), *(t.result() for t in queued)]
        return answers, refused.value, batcher._worker

    answers, refused, worker = asyncio.run(main())
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, _row(i) * 2)
    assert refused.retry_after > 0
    assert worker.done()
    assert sum(model.rows) == 11


def test_close_fails_running_and_queued_requests() -> None:
    model = Model()

    async def main() -> list[BaseException]:
        batcher = Batcher(model, slo_s=1.0)
        first = await model.hold(batcher, _row(0))
        queued = [asyncio.ensure_future(batcher.submit(_row(i))) for i in range(3)]
        await _one_pass()
        batcher.close()
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
        model.released.set()
        return outcomes

    outcomes = asyncio.run(main())
    assert all(isinstance(o, OverloadedError) and "closed" in str(o) for o in outcomes)
    assert model.rows == [1]


def test_deadlines_and_callers_that_give_up() -> None:
    model = Model()

    async def main() -> tuple[BaseException, BaseException]:
        batcher = Batcher(model, slo_s=1.0)
        with pytest.raises(OverloadedError) as too_late:
            await batcher.submit(_row(1), deadline=time.monotonic() - 0.001)
        first = await model.hold(batcher, _row(2))
        expiring = asyncio.ensure_future(batcher.submit(_row(3), deadline=time.monotonic() + 0.05))
        abandoned = asyncio.ensure_future(batcher.submit(_row(4)))
        kept = asyncio.ensure_future(batcher.submit(_row(5)))
        await _one_pass()
        abandoned.cancel()  # what a straggler policy's timeout does
        deadline_passes = time.monotonic() + 0.06
        await asyncio.to_thread(time.sleep, 0.06)  # the clock must pass the deadline
        assert time.monotonic() >= deadline_passes
        model.released.set()
        await first
        np.testing.assert_array_equal(await kept, _row(5) * 2)
        with pytest.raises(OverloadedError, match="deadline") as expired:
            await expiring
        await batcher.drain()
        return too_late.value, expired.value

    too_late, expired = asyncio.run(main())
    assert too_late.retry_after > 0 and expired.retry_after > 0
    # neither the expired nor the abandoned request reached the model
    assert [b[0, 0] for b in model.batches] == [2.0, 5.0]


def test_an_observer_that_raises_does_not_stop_the_batcher() -> None:
    class Broken:
        def batch(self, stats: BatchStats) -> None:
            raise RuntimeError("metrics are down")

    async def main() -> list[object]:
        batcher = Batcher(Model(), slo_s=1.0, observer=Broken())
        answers = [await batcher.submit(_row(v)) for v in (1, 2)]
        await batcher.drain()
        return answers

    first, second = asyncio.run(main())
    np.testing.assert_array_equal(second, _row(2) * 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slo_s": 0}, "slo_s must be a positive"),
        ({"slo_s": 0.02, "max_batch": 0}, "max_batch must be an int of at least 1"),
        ({"slo_s": 0.02, "max_wait_s": -1.0}, "max_wait_s must be 0 or more"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        Batcher(Model(), **kwargs)
