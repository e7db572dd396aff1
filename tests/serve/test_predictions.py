"""The prediction log: ids, sampling, batched writes off the caller's thread, drops when
full, what a logged prediction reads back as, and its lineage back to the training data."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from ulid import ULID

import cairn
from cairn import models
from cairn.errors import InvalidValueError, NotFoundError
from cairn.lineage import to_dot, to_prov_json, to_tree
from cairn.serve.predictions import (
    MAX_BATCH_ROWS,
    PredictionLog,
    get_prediction,
    list_predictions,
)
from cairn.store import Store, get_store, schema
from cairn.store.nodes import NodeKind

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)
IDLE_S = 3600.0  # a writer that writes only when flushed or closed


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> Store:
    if request.param == "postgres":
        monkeypatch.setenv("CAIRN_STORE", request.getfixturevalue("pg_url"))
    return get_store()


@pytest.fixture
def version(store: Store) -> models.ModelVersion:
    """digits/1, registered inside a run that read the dataset `train`."""
    cairn.datasets.save("train", {"X": X, "y": Y})
    with cairn.start_run("fit", experiment="digits", params={"C": 0.5}):
        data = cairn.datasets.load("train")
        model = LogisticRegression(C=0.5).fit(data["X"], data["y"])
        return models.register("digits", model, owner="alice", example=X[:3])


def record(
    log: PredictionLog, model_version: models.ModelVersion, **given: object
) -> tuple[str, bool]:
    prediction_id = log.new_id()
    fields = {"name": model_version.name, "version": model_version.version,
              "artifact_id": model_version.artifact_id, "inputs": X[:1], "outputs": Y[:1],
              "latency_ms": 1.5, "route": "fixed", **given}  # fmt: skip
    return prediction_id, log.record(prediction_id, **fields)


def count(store: Store, table: sa.Table) -> int:
    with store.reader() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def commits(store: Store) -> list[int]:
    """A list that grows by one on every transaction the store's engine commits."""
    seen: list[int] = []
    sa.event.listen(store.engine, "commit", lambda conn: seen.append(1))
    return seen


def test_ids_are_ulids_python_ulid_reads_unique_and_in_time_order() -> None:
    before = time.time()
    ids = [PredictionLog.new_id() for _ in range(20_000)]
    after = time.time()
    assert len(set(ids)) == len(ids)
    for text in ids[:: len(ids) // 50]:
        parsed = ULID.from_str(text)
        assert str(parsed) == text and len(text) == 26
        assert before - 0.001 <= parsed.timestamp <= after + 0.001
    last_ms = ULID.from_str(ids[-1]).milliseconds
    while time.time_ns() // 1_000_000 <= last_ms:
        pass  # until the clock reaches a later millisecond
    assert PredictionLog.new_id() > ids[-1]


def test_sampling_keeps_the_share_asked_for(store: Store, version: models.ModelVersion) -> None:
    log = PredictionLog(store, sample=0.1, flush_s=IDLE_S, rng=random.Random(7))
    kept = [record(log, version)[1] for _ in range(20_000)]
    # Binomial(20000, 0.1): mean 2000, sd 42.4; five sd either side.
    assert 1788 <= sum(kept) <= 2212
    assert log.kept == sum(kept) and log.dropped == 0
    again = PredictionLog(store, sample=0.1, flush_s=IDLE_S, rng=random.Random(7))
    assert [record(again, version)[1] for _ in range(1000)] == kept[:1000]
    none = PredictionLog(store, sample=0.0, flush_s=IDLE_S)
    assert not any(record(none, version)[1] for _ in range(1000))
    for opened in (log, again, none):
        opened.close()
    assert count(store, schema.predictions) == sum(kept) + sum(kept[:1000])


def test_every_prediction_is_written_in_few_transactions_with_its_lineage_edge(
    store: Store, version: models.ModelVersion
) -> None:
    log = PredictionLog(store, sample=1.0, flush_s=IDLE_S)
    seen = commits(store)
    ids = [record(log, version)[0] for _ in range(1000)]
    assert log.kept == 1000
    log.flush()
    assert len(seen) == 1
    assert count(store, schema.predictions) == 1000
    edges = schema.lineage_edges
    with store.reader() as conn:
        used = conn.execute(
            sa.select(edges.c.src, edges.c.dst, edges.c.relation).where(
                edges.c.src.startswith("prediction:")
            )
        ).all()
    assert {src for src, _, _ in used} == {f"prediction:{i}" for i in ids}
    assert {(dst, rel) for _, dst, rel in used} == {(f"artifact:{version.artifact_id}", "used")}
    # A backlog is written MAX_BATCH_ROWS a transaction.
    for _ in range(2 * MAX_BATCH_ROWS + 10):
        record(log, version)
    log.close()
    assert len(seen) == 4
    assert count(store, schema.predictions) == 2 * MAX_BATCH_ROWS + 1010
    assert log.dropped == 0


def test_a_full_queue_drops_and_counts_and_recording_never_waits_for_the_store(
    store: Store, version: models.ModelVersion
) -> None:
    log = PredictionLog(store, sample=1.0, flush_s=IDLE_S, max_queue=10)
    results = [record(log, version)[1] for _ in range(25)]
    assert results == [True] * 10 + [False] * 15
    assert (log.kept, log.dropped) == (10, 15)
    log.close()
    assert count(store, schema.predictions) == 10
    assert not record(log, version)[1] and log.dropped == 16  # closed: no longer kept

    if store.dialect != "sqlite":
        return
    busy = PredictionLog(store, sample=1.0, flush_s=IDLE_S)
    record(busy, version)
    flushed = threading.Event()
    with store.writer() as conn:  # holds SQLite's write lock: the writer cannot write
        conn.execute(sa.select(1))
        flusher = threading.Thread(target=lambda: (busy.flush(timeout=60), flushed.set()))
        flusher.start()
        assert all(record(busy, version)[1] for _ in range(2000))
        assert not flushed.is_set()
    flusher.join()
    assert flushed.is_set()
    busy.close()
    assert count(store, schema.predictions) == 10 + 2001


def test_inputs_and_outputs_read_back_as_json_whatever_the_model_took_and_gave(
    store: Store, version: models.ModelVersion
) -> None:
    log = PredictionLog(store, sample=1.0, flush_s=IDLE_S)
    frame = pd.DataFrame(
        {"a": [1.5, 2.5], "b": ["x", "y"], "when": pd.to_datetime(["2024-01-02", "2024-03-04"])}
    )
    wide = np.arange(12, dtype=np.int32).reshape(3, 4)
    cases = {
        "array": (X[:2], Y[:2]),
        "strided": (wide[:, ::2], np.array(["cat", "dog", "cat"])),
        "frame": (frame, pd.Series([0.25, 0.75])),
        "rows": ([[1, 2.0, None]], [np.int64(3), np.float32(0.5)]),
        "dates": ([dt.date(2024, 1, 2)], None),
    }
    ids = {case: record(log, version, inputs=i, outputs=o)[0] for case, (i, o) in cases.items()}
    log.close()
    read = {case: get_prediction(store, ids[case].lower()) for case in cases}
    assert read["array"].inputs == X[:2].tolist() and read["array"].outputs == Y[:2].tolist()
    assert read["strided"].inputs == [[0, 2], [4, 6], [8, 10]]
    assert read["strided"].outputs == ["cat", "dog", "cat"]
    assert read["frame"].inputs["columns"] == ["a", "b", "when"]
    assert read["frame"].inputs["data"][1][:2] == [2.5, "y"]
    assert read["frame"].inputs["data"][1][2].startswith("2024-03-04")
    assert read["frame"].outputs == [0.25, 0.75]
    assert read["rows"].inputs == [[1, 2.0, None]] and read["rows"].outputs == [3, 0.5]
    assert read["dates"].inputs == ["2024-01-02"] and read["dates"].outputs is None
    one = read["array"]
    assert (one.name, one.version, one.artifact_id) == ("digits", 1, version.artifact_id)
    assert (one.route, one.latency_ms, one.shadow, one.fallback) == ("fixed", 1.5, False, False)
    assert one.node == f"prediction:{ids['array']}"
    newest = list_predictions(store, name="digits", limit=3)
    assert len(newest) == 3 and newest[0].ts >= newest[-1].ts
    assert list_predictions(store, name="other") == []


def test_rows_that_cannot_be_written_are_dropped_alone(
    store: Store, version: models.ModelVersion
) -> None:
    log = PredictionLog(store, sample=1.0, flush_s=IDLE_S)
    good = [record(log, version)[0] for _ in range(3)]
    record(log, version, inputs=object())  # nothing JSON can hold
    record(log, version, artifact_id=version.artifact_id + 999)  # no such artifact
    record(log, version, version="one")  # not a version number
    repeated = good[0]
    log.record(repeated, name="digits", version=1, artifact_id=version.artifact_id,
               inputs=[], outputs=[], latency_ms=1.0, route="fixed")  # fmt: skip
    good.append(record(log, version, shadow=True, fallback=True, route="shadow")[0])
    log.close()
    assert (log.kept, log.dropped) == (8, 4)
    with store.reader() as conn:
        written = set(conn.execute(sa.select(schema.predictions.c.id)).scalars())
    assert written == set(good)
    shadow = get_prediction(store, good[-1])
    assert (shadow.shadow, shadow.fallback, shadow.route) == (True, True, "shadow")


def test_an_unknown_id_says_only_a_sample_is_kept(store: Store) -> None:
    with pytest.raises(NotFoundError, match="only a sample .default 1 %. is kept"):
        get_prediction(store, PredictionLog.new_id())
    with pytest.raises(InvalidValueError, match="sample"):
        PredictionLog(store, sample=1.5)
    with pytest.raises(InvalidValueError, match="limit"):
        list_predictions(store, limit=0)


def test_lineage_goes_from_a_prediction_to_the_model_its_run_and_the_data(
    store: Store, version: models.ModelVersion
) -> None:
    log = PredictionLog(store, sample=1.0, flush_s=IDLE_S)
    prediction_id, _ = record(log, version)
    log.close()
    graph = cairn.lineage(prediction_id.lower())
    root = graph.nodes[graph.root]
    assert root.kind is NodeKind.PREDICTION and root.label == "digits/1"
    assert graph.children(graph.root) == [(f"artifact:{version.artifact_id}", "used")]
    (run,) = graph.runs()
    assert run.id == f"run:{version.run_id}" and run.attrs["params"] == {"C": 0.5}
    assert {a.attrs["name"] for a in graph.artifacts()} == {"digits", "train"}
    assert cairn.lineage(get_prediction(store, prediction_id)).nodes == graph.nodes
    assert cairn.lineage(f"prediction:{prediction_id.lower()}").root == graph.root

    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(to_tree(graph))
    text = console.export_text()
    assert f"prediction {prediction_id} digits/1" in text and "run digits/fit" in text
    prov = to_prov_json(graph)
    activity = prov["activity"][f"cairn:prediction/{prediction_id}"]
    assert activity["prov:type"] == "cairn:prediction" and activity["cairn:route"] == "fixed"
    assert {
        "prov:activity": f"cairn:prediction/{prediction_id}",
        "prov:entity": f"cairn:artifact/{version.artifact_id}",
    } in prov["used"].values()
    assert f'"prediction:{prediction_id}" [label="digits/1", shape=diamond]' in to_dot(graph)
    down = cairn.lineage(version, "down")
    assert f"prediction:{prediction_id}" in down.nodes
