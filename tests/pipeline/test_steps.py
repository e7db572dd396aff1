"""@cairn.step: cached by code, inputs and parameters; safe under concurrent callers."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import cairn
from cairn.pipeline.hashing import digest_of_value
from cairn.store import schema


def _counting_steps():
    calls = {"double": 0, "add": 0}

    @cairn.step
    def double(x):
        calls["double"] += 1
        return x * 2

    @cairn.step(version="1")
    def add(x, y=1.0):
        calls["add"] += 1
        return x + y

    return calls, double, add


def test_same_inputs_hit_the_cache_and_say_so(workspace: Path, caplog) -> None:
    calls, double, add = _counting_steps()
    data = np.arange(10.0)
    with caplog.at_level(logging.INFO, logger="cairn.step"):
        first = add(double(data), y=3.0)
        second = add(double(data.copy()), y=3.0)  # equal content, another object
    np.testing.assert_array_equal(first, data * 2 + 3)
    np.testing.assert_array_equal(second, first)
    assert calls == {"double": 1, "add": 1}
    assert "step double: cached result double:1" in caplog.text
    add(double(data), y=4.0)  # a parameter changed: only add runs
    assert calls == {"double": 1, "add": 2}
    add(double(data + 1), y=4.0)  # an input changed: both run
    assert calls == {"double": 2, "add": 3}


def test_step_runs_are_children_with_params(workspace: Path) -> None:
    _, double, _ = _counting_steps()
    with cairn.start_run("pipeline") as parent:
        double(21)
    child = cairn.search_runs(filter="tags.`cairn.step` = 'double'")[0]
    assert child.parent_id == parent.id and child.params == {"x": 21}
    assert cairn.load(f"{child.id}/double") == 42


def test_code_and_version_changes_rerun(workspace: Path) -> None:
    calls = []

    def make(body_offset: int, version: str):
        namespace: dict = {"cairn": cairn, "calls": calls}
        source = (
            f"@cairn.step(version={version!r}, name='f')\n"
            f"def f(x):\n    calls.append(1)\n    return x + {body_offset}\n"
        )
        exec(compile(source, f"<step {body_offset} {version}>", "exec"), namespace)
        return namespace["f"]

    assert make(1, "1")(1) == 2 and make(1, "1")(1) == 2
    assert len(calls) == 1
    assert make(2, "1")(1) == 3  # new code
    assert make(2, "2")(1) == 3  # new version
    assert len(calls) == 3


def test_unhashable_argument_names_it(workspace: Path) -> None:
    _, double, _ = _counting_steps()
    with pytest.raises(cairn.StepInputError, match="argument 'x' of step 'double'"):
        double(x for x in range(3))
    assert cairn.search_runs() == []  # nothing written


def test_large_input_is_hashed_once(workspace: Path, monkeypatch) -> None:
    from cairn.pipeline import hashing

    hashed = []
    real = hashing._hash_content
    monkeypatch.setattr(hashing, "_hash_content", lambda *a: hashed.append(1) or real(*a))
    big = np.random.default_rng(0).random(5_000_000)
    first = digest_of_value(big, "x", "s")
    assert digest_of_value(big, "x", "s") == first
    assert len(hashed) == 1
    big[0] = -1.0  # an in-place change at a sampled position is noticed
    assert digest_of_value(big, "x", "s") != first
    assert len(hashed) == 2
    assert digest_of_value(big.copy(), "x", "s") == digest_of_value(big, "x", "s")


def test_invalidate_forgets_results(workspace: Path) -> None:
    calls, double, _ = _counting_steps()
    double(5)
    double(5)
    assert calls["double"] == 1
    assert cairn.pipeline.invalidate(cairn.get_store(), "double") == 1
    double(5)
    assert calls["double"] == 2


def _compute_in_process(barrier, store_url: str, blobs_url: str, out) -> None:
    import os

    os.environ["CAIRN_STORE"], os.environ["CAIRN_BLOBS"] = store_url, blobs_url

    @cairn.step(name="slow_square")
    def slow_square(x):
        barrier.wait(timeout=60)  # both callers are inside the body at once
        return x * x

    out.put(float(slow_square(7.0)))


def test_concurrent_callers_store_one_result(workspace: Path) -> None:
    import os

    cairn.get_store()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(
            target=_compute_in_process,
            args=(barrier, os.environ["CAIRN_STORE"], os.environ["CAIRN_BLOBS"], out),
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120), out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [49.0, 49.0]
    with cairn.get_store().reader() as conn:
        rows = conn.execute(
            sa.select(schema.step_cache).where(schema.step_cache.c.step == "slow_square")
        ).all()
    assert len(rows) == 1
    assert len(cairn.search_runs(filter="tags.`cairn.step` = 'slow_square'")) == 2


def test_threads_share_the_cache(workspace: Path) -> None:
    calls, double, _ = _counting_steps()
    double(1)
    threads = [threading.Thread(target=double, args=(1,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls["double"] == 1
