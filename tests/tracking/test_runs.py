"""The tracking suite: runs once per backend (SQLite+folder, PostgreSQL, S3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cairn


def test_context_manager_records_params_metrics_tags(backend: str) -> None:
    with cairn.start_run(
        "train", experiment="digits", params={"C": 1.0, "opt": "adam"}, tags={"team": "vision"}
    ) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
        run.log_params({"layers": [64, 32]})
        run.set_tags({"stage": "dev"})
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert record.ended is not None and record.ended >= record.started
    assert record.params == {"C": 1.0, "opt": "adam", "layers": [64, 32]}
    assert record.tags == {"team": "vision", "stage": "dev"}
    assert record.metrics == {"loss": 0.2, "acc": 0.4}
    assert [v for _, v, _ in record.metric_history("loss")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_plain_call_and_end(backend: str) -> None:
    run = cairn.start_run("plain")
    run.log({"x": 1})
    assert cairn.get_run(run.id).status == "running"
    run.end()
    assert cairn.get_run(run.id).status == "finished"
    assert cairn.get_run(run.id).metrics == {"x": 1.0}


def test_steps_default_to_one_past_the_last(backend: str) -> None:
    with cairn.start_run("steps") as run:
        for _ in range(3):
            run.log({"loss": 1.0})
        run.log({"loss": 2.0}, step=10)
        run.log({"loss": 3.0})
    assert [s for s, _, _ in cairn.get_run(run.id).metric_history("loss")] == [0, 1, 2, 10, 11]


def test_given_timestamps_are_kept(backend: str) -> None:
    with cairn.start_run("stamped") as run:
        run.log({"loss": 0.5}, timestamp=1_000.25)
        run.log({"loss": 0.4})
    history = cairn.get_run(run.id).metric_history("loss")
    assert [(step, value) for step, value, _ in history] == [(0, 0.5), (1, 0.4)]
    assert history[0][2] == 1_000.25
    assert history[1][2] > 1_000_000_000  # now, not the given time


def test_a_resumed_run_goes_on_where_it_ended(backend: str) -> None:
    with cairn.start_run("first-part", experiment="resume", params={"lr": 0.1}) as run:
        run.log({"loss": 1.0})
        run.log({"loss": 0.9})
    assert cairn.get_run(run.id).status == "finished"
    with cairn.resume_run(run.id[-8:], tags={"part": "2"}) as again:
        assert again.id == run.id and again.experiment == "resume"
        assert cairn.get_run(run.id).status == "running"
        again.log({"loss": 0.8})  # no step: one past the last one logged before
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert [(s, v) for s, v, _ in record.metric_history("loss")] == [(0, 1.0), (1, 0.9), (2, 0.8)]
    assert record.tags["part"] == "2" and record.params == {"lr": 0.1}
    with pytest.raises(cairn.CairnError, match="runs ls"):
        cairn.resume_run("NOSUCHRUN")


def test_non_finite_metrics_are_kept(backend: str) -> None:
    with cairn.start_run("nan") as run:
        run.log({"a": math.nan, "b": math.inf, "c": -math.inf, "d": np.float32(0.5)})
    metrics = cairn.get_run(run.id).metrics
    assert math.isnan(metrics["a"])
    assert metrics["b"] == math.inf and metrics["c"] == -math.inf and metrics["d"] == 0.5


def test_exception_marks_failed_with_traceback(backend: str) -> None:
    with pytest.raises(ZeroDivisionError), cairn.start_run("boom") as run:
        run.log({"before": 1.0})
        1 / 0  # noqa: B018
    record = cairn.get_run(run.id)
    assert record.status == "failed"
    assert "ZeroDivisionError" in record.error
    assert record.metrics == {"before": 1.0}


def test_nested_runs_and_explicit_parent(backend: str) -> None:
    with cairn.start_run("parent", experiment="exp") as parent:
        with cairn.start_run("child") as child:
            assert cairn.active_run() is child
        assert cairn.active_run() is parent
        other = cairn.start_run("other", parent=parent.id)
        other.end()
    assert cairn.active_run() is None
    assert cairn.get_run(child.id).parent_id == parent.id
    assert cairn.get_run(child.id).experiment == "exp"
    assert cairn.get_run(other.id).parent_id == parent.id
    with pytest.raises(cairn.NotFoundError):
        cairn.start_run("orphan", parent="0" * 26)


def test_save_and_load_round_trip(backend: str) -> None:
    array = np.arange(1000, dtype=np.float64).reshape(10, 100)
    with cairn.start_run("producer") as run:
        ref = run.save("weights", array)
        ref2 = run.save("weights", array * 2)
        run.save("config", {"lr": 0.1, "name": "x"})
    assert (ref.name, ref.version, ref2.version) == ("weights", 1, 2)
    np.testing.assert_array_equal(cairn.load(ref), array)
    np.testing.assert_array_equal(cairn.load("weights"), array * 2)
    np.testing.assert_array_equal(cairn.load("weights:1"), array)
    np.testing.assert_array_equal(cairn.load(f"{run.id}/weights"), array * 2)
    assert cairn.load("config") == {"lr": 0.1, "name": "x"}
    assert [a.name for a in cairn.get_run(run.id).artifacts()] == ["weights", "weights", "config"]


def test_same_content_is_stored_once(backend: str) -> None:
    store = cairn.get_store()
    with cairn.start_run("dedupe") as run:
        a = run.save("a", np.ones(10_000))
        b = run.save("b", np.ones(10_000))
    assert a.digest == b.digest
    assert sum(1 for d, _ in store.blobs.digests() if d == a.digest) == 1


def test_load_inside_a_run_records_the_input(backend: str) -> None:
    with cairn.start_run("make") as maker:
        ref = maker.save("data", [1, 2, 3])
    with cairn.start_run("use") as user:
        assert cairn.load(ref) == [1, 2, 3]
    graph = cairn.lineage(ref, direction="down")
    assert (f"run:{user.id}", ref.node, "used") in graph.edges


def test_search_filter_and_order(backend: str) -> None:
    for c, acc, opt in [
        (0.01, 0.80, "sgd"),
        (0.1, 0.91, "adam"),
        (1.0, 0.95, "adam"),
        (10.0, 0.89, "sgd"),
    ]:
        with cairn.start_run(
            "fit", experiment="grid", params={"C": c, "opt": opt}, tags={"family": opt}
        ) as run:
            run.log({"acc": acc})
    with cairn.start_run("elsewhere", experiment="other", params={"C": 5.0}) as run:
        run.log({"acc": 0.99})

    def cs(**kw) -> list[float]:
        return [r.params["C"] for r in cairn.search_runs(**kw)]

    assert sorted(cs(experiment="grid")) == [0.01, 0.1, 1.0, 10.0]
    assert sorted(cs(experiment="grid", filter="params.C > 0.1 and metrics.acc >= 0.9")) == [1.0]
    assert sorted(cs(filter="params.opt = 'adam' or metrics.acc > 0.98")) == [0.1, 1.0, 5.0]
    assert sorted(cs(filter="not (params.opt = 'adam') and tags.family = 'sgd'")) == [0.01, 10.0]
    assert cs(experiment="grid", order_by="metrics.acc desc") == [1.0, 0.1, 10.0, 0.01]
    assert cs(experiment="grid", order_by=["params.C asc"]) == [0.01, 0.1, 1.0, 10.0]
    assert cs(filter="attributes.status = 'finished' and params.C >= 5", order_by="params.C") == [
        5.0,
        10.0,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "params.C >",
        "C > 1",
        "params.C > 1; DROP TABLE runs",
        "metrics.acc > 'x'",
        "(params.C > 1",
        "attributes.nope = 1",
        "params.C = = 1",
    ],
)
def test_bad_filter_is_a_clear_error(backend: str, bad: str) -> None:
    with cairn.start_run("r", params={"C": 1.0}):
        pass
    with pytest.raises(cairn.FilterSyntaxError, match="filter"):
        cairn.search_runs(filter=bad)
    assert len(cairn.search_runs()) == 1  # nothing was dropped or changed


@pytest.mark.parametrize("name", ["a/b", "a\\b", "tab\there", "nl\n", "", "..", "x" * 300])
def test_bad_names_raise(backend: str, name: str) -> None:
    with cairn.start_run("names") as run:
        with pytest.raises(cairn.InvalidNameError):
            run.log({name: 1.0})
        with pytest.raises(cairn.InvalidNameError):
            run.log_params({name: 1})
        with pytest.raises(cairn.InvalidNameError):
            run.save(name, 1)
    with pytest.raises(cairn.InvalidNameError):
        cairn.start_run(name)


def test_bad_values_raise_and_store_nothing(backend: str) -> None:
    with cairn.start_run("values") as run:
        with pytest.raises(cairn.InvalidValueError, match="real number"):
            run.log({"acc": "0.9"})
        with pytest.raises(cairn.InvalidValueError, match="real number"):
            run.log({"acc": None})
        with pytest.raises(cairn.InvalidValueError, match="cannot be stored"):
            run.log_params({"fn": object()})
    record = cairn.get_run(run.id)
    assert record.metrics == {} and record.params == {}


def test_logging_after_end_raises(backend: str) -> None:
    with cairn.start_run("ended") as run:
        pass
    for action in (
        lambda: run.log({"x": 1}),
        lambda: run.log_params({"a": 1}),
        lambda: run.set_tags({"a": 1}),
        lambda: run.save("a", 1),
    ):
        with pytest.raises(cairn.RunEndedError):
            action()


def test_unknown_run_and_artifact(backend: str) -> None:
    with pytest.raises(cairn.NotFoundError, match="cairn runs ls"):
        cairn.get_run("nope")
    with pytest.raises(cairn.NotFoundError, match="no artifact"):
        cairn.load("missing:3")


def test_corrupt_blob_is_detected(backend: str) -> None:
    with cairn.start_run("c") as run:
        ref = run.save("arr", np.arange(100_000))
    store = cairn.get_store()
    data = bytearray(store.blobs.get(ref.digest))
    data[len(data) // 2] ^= 0xFF
    _overwrite_blob(store, ref.digest, bytes(data))
    with pytest.raises(cairn.CorruptBlobError, match=ref.digest):
        cairn.load(ref)


def _overwrite_blob(store, digest: str, data: bytes) -> None:
    from cairn.store.blobs import LocalBlobStore

    if isinstance(store.blobs, LocalBlobStore):
        path = store.blobs.path(digest)
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        store.blobs.fs.pipe_file(store.blobs.path(digest), data)


def test_output_capture(backend: str, capsys: pytest.CaptureFixture) -> None:
    with cairn.start_run("printer", capture_output=True) as run:
        print("hello from the run")
    assert "hello from the run" in capsys.readouterr().out
    assert cairn.load(f"{run.id}/stdout") == "hello from the run\n"
