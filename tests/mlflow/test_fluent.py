"""cairn.mlflow's fluent tracking API: MLflow's names, arguments and answers, on cairn's store."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
import cairn.mlflow as mlflow
from cairn.errors import (
    CairnError,
    FilterSyntaxError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
)
from cairn.mlflow import experiments
from cairn.store.nodes import Relation, run_node
from tests.conftest import git_repo
from tests.mlflow.side_by_side import run_both

SAME_SCRIPT = Path(__file__).parent / "same_script.py"
# The columns MLflow's search_runs frame starts with.
INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def test_a_run_reads_back_in_mlflow_shapes(workspace: Path) -> None:
    experiment = mlflow.set_experiment("shapes")
    with mlflow.start_run(run_name="first", tags={"team": "a"}, description="why") as run:
        assert run.info.status == "RUNNING" and run.info.end_time is None
        assert mlflow.active_run().info.run_id == run.info.run_id
        mlflow.log_params({"alpha": 0.5, "layers": 3})
        mlflow.log_metric("loss", 0.25)
        mlflow.set_tag("stage", "dev")
        assert run.data.metrics == {"loss": 0.25}  # current, not a snapshot of the start
    assert mlflow.active_run() is None
    found = mlflow.get_run(run.info.run_id)
    info = found.info
    assert (info.run_name, info.status, info.experiment_id) == (
        "first",
        "FINISHED",
        experiment.experiment_id,
    )
    assert info.artifact_uri == f"runs:/{info.run_id}" and info.lifecycle_stage == "active"
    assert isinstance(info.start_time, int) and info.start_time <= info.end_time
    assert found.data.params == {"alpha": "0.5", "layers": "3"}
    assert found.data.metrics == {"loss": 0.25}
    tags = found.data.tags
    assert tags["team"] == "a" and tags["stage"] == "dev" and tags["mlflow.note.content"] == "why"
    assert tags["mlflow.runName"] == "first" and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"] == info.user_id
    record = cairn.get_run(info.run_id)  # cairn's own view of the same run
    assert record.params == {"alpha": 0.5, "layers": 3} and record.experiment == "shapes"
    assert "mlflow.runName" not in record.tags  # the name is the run's own, not a tag


def test_a_run_ends_as_its_block_or_end_run_says(workspace: Path) -> None:
    with pytest.raises(ZeroDivisionError), mlflow.start_run() as failed:
        raise ZeroDivisionError("in the block")
    assert mlflow.get_run(failed.info.run_id).info.status == "FAILED"
    assert "ZeroDivisionError" in cairn.get_run(failed.info.run_id).error
    killed = mlflow.start_run()
    mlflow.end_run("KILLED")
    assert mlflow.get_run(killed.info.run_id).info.status == "KILLED"
    mlflow.start_run()
    with pytest.raises(InvalidValueError, match="FINISHED, FAILED or KILLED"):
        mlflow.end_run("DONE")
    mlflow.end_run()
    mlflow.end_run()  # nothing active: nothing to do, as in MLflow
    assert mlflow.last_active_run().info.status == "FINISHED"


def test_runs_nest_only_when_asked_and_share_cairns_active_run(workspace: Path) -> None:
    mlflow.set_experiment("nesting")
    with mlflow.start_run(run_name="outer") as outer:
        with pytest.raises(mlflow.RunActiveError, match="nested=True"):
            mlflow.start_run()
        # cairn's own run nests under an MLflow one, and MLflow's API logs to cairn's run.
        with (
            mlflow.start_run(run_name="inner", nested=True) as inner,
            cairn.start_run("native") as native,
        ):
            mlflow.log_metric("seen", 1.0)
    child = mlflow.get_run(inner.info.run_id)
    assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert child.info.experiment_id == mlflow.get_run(outer.info.run_id).info.experiment_id
    assert cairn.get_run(native.id).parent_id == inner.info.run_id
    assert cairn.get_run(native.id).metrics == {"seen": 1.0}
    assert mlflow.get_run(native.id).data.tags["mlflow.parentRunId"] == inner.info.run_id


def test_logging_without_a_run_starts_one(workspace: Path) -> None:
    mlflow.log_metric("loss", 1.5)
    started = mlflow.active_run()
    assert started is not None
    mlflow.log_param("p", "x")
    mlflow.end_run()
    run = mlflow.get_run(started.info.run_id)
    assert (run.info.status, run.data.metrics, run.data.params) == (
        "FINISHED",
        {"loss": 1.5},
        {"p": "x"},
    )


def test_a_run_resumes_by_id_where_it_stopped(workspace: Path) -> None:
    with mlflow.start_run() as first:
        mlflow.log_metric("loss", 1.0)
    with mlflow.start_run(run_id=first.info.run_id, tags={"resumed": "yes"}) as again:
        assert again.info.status == "RUNNING" and again.info.end_time is None
        mlflow.log_metric("loss", 0.5)  # no step: the one after the run's last
    run = cairn.get_run(first.info.run_id)
    assert run.status == "finished" and run.tags["resumed"] == "yes"
    assert [(step, value) for step, value, _ in run.metric_history("loss")] == [(0, 1.0), (1, 0.5)]
    assert run.metrics["loss"] == 0.5


def test_metric_steps_and_timestamps(workspace: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("a", 1.0, step=10)
        mlflow.log_metric("a", 2.0)  # the next step
        mlflow.log_metric("a", 3.0, timestamp=1_700_000_000_000)
        mlflow.log_metrics({"b": np.float32(0.5), "c": 7}, step=3, timestamp=1_700_000_001_500)
    history = cairn.get_run(run.info.run_id).metric_history
    assert [(s, v) for s, v, _ in history("a")] == [(10, 1.0), (11, 2.0), (12, 3.0)]
    assert history("a")[-1][2] == 1_700_000_000.0
    assert history("b") == [(3, 0.5, 1_700_000_001.5)] and history("c")[0][:2] == (3, 7.0)
    mlflow.log_metric("late", 4.0, run_id=run.info.run_id)  # an ended run, by id: durable now
    assert cairn.get_run(run.info.run_id).metrics["late"] == 4.0
    with mlflow.start_run(), pytest.raises(InvalidNameError):
        mlflow.log_metric("train/loss", 1.0)  # cairn's names take no path separators


def test_params_are_text_as_mlflow_stores_them_and_typed_in_cairn(workspace: Path) -> None:
    class Kernel:
        def __str__(self) -> str:
            return "RBF(length_scale=1)"

    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", np.float64(0.01)) == np.float64(0.01)
        mlflow.log_params({"flag": False, "none": None, "kernel": Kernel(), "sizes": (1, 2)})
    assert mlflow.get_run(run.info.run_id).data.params == {
        "lr": "0.01",
        "flag": "False",
        "none": "None",
        "kernel": "RBF(length_scale=1)",
        "sizes": "(1, 2)",
    }
    assert cairn.get_run(run.info.run_id).params["lr"] == 0.01  # a number, filters compare it


def test_a_param_keeps_its_value(workspace: Path) -> None:
    with mlflow.start_run():
        mlflow.log_param("alpha", 0.5)
        mlflow.log_param("alpha", 0.5)  # the same value again is fine, as in MLflow
        with pytest.raises(CairnError, match="alpha"):
            mlflow.log_param("alpha", 0.7)


def test_artifacts_files_folders_text_dicts_and_figures(workspace: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = workspace / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    with mlflow.start_run() as run:
        mlflow.log_artifact(folder / "a.txt")
        mlflow.log_artifact(folder / "a.txt", artifact_path="copies")
        mlflow.log_artifact(folder, artifact_path="tree")  # a folder, under its own name
        mlflow.log_artifacts(folder, artifact_path="flat")
        mlflow.log_text("first", "notes/readme.md")
        mlflow.log_text("second", "notes/readme.md")  # the same path: the newest wins
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
        mlflow.log_dict({"a": 1}, "config.yaml")
        figure, axes = plt.subplots()
        axes.plot([1, 2, 3])
        mlflow.log_figure(figure, "plots/line.png")
        assert mlflow.get_artifact_uri("plots") == f"runs:/{run.info.run_id}/plots"
        with pytest.raises(InvalidValueError, match=r"\.\."):
            mlflow.log_text("x", "../escape.txt")
    run_id = run.info.run_id
    listed = mlflow.artifacts.list_artifacts(run_id=run_id)
    assert [(f.path, f.is_dir) for f in listed] == [
        ("a.txt", False),
        ("config.json", False),
        ("config.yaml", False),
        ("copies", True),
        ("flat", True),
        ("notes", True),
        ("plots", True),
        ("tree", True),
    ]
    assert listed[0].file_size == 1
    tree = mlflow.artifacts.list_artifacts(f"runs:/{run_id}/tree/out")
    assert [f.path for f in tree] == ["tree/out/a.txt", "tree/out/sub"]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md") == "second"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1, "b": [1, 2]}
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {"a": 1}
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="flat"))
    assert (local / "a.txt").read_text() == "A" and (
        local / "sub" / "b.bin"
    ).read_bytes() == b"\x00\x01"
    png = Path(
        mlflow.artifacts.download_artifacts(
            f"runs:/{run_id}/plots/line.png", dst_path=workspace / "d"
        )
    )
    assert png == workspace / "d" / "plots" / "line.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    # In cairn each file is an artifact of kind file, by its file name, its path in its meta.
    kinds = {(a.name, a.kind, a.meta["path"]) for a in cairn.get_run(run_id).artifacts()}
    assert ("readme.md", "file", "notes/readme.md") in kinds
    with pytest.raises(NotFoundError):
        mlflow.artifacts.load_text(f"runs:/{run_id}/missing.txt")
    with pytest.raises(InvalidValueError, match="runs:/"):
        mlflow.artifacts.load_text("s3://bucket/x.txt")


def test_log_input_records_a_dataset_version_the_run_used(workspace: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    with mlflow.start_run() as run:
        version = mlflow.log_input(frame, context="training", name="points")
        assert mlflow.log_input(mlflow.data.from_pandas(frame.copy(), name="points")) == version
        other = mlflow.log_input(mlflow.data.from_numpy(np.arange(4), name="numbers"))
        made = cairn.datasets.save("made", [1, 2, 3])
        mlflow.log_input(made)
        mlflow.log_input("points:1")
        with pytest.raises(InvalidValueError, match="name="):
            mlflow.log_input(frame)
    assert version.run_id is None  # the run read it; it did not make it
    assert len(cairn.datasets.history("points")) == 1  # the same content: the same version
    pd.testing.assert_frame_equal(cairn.datasets.load("points"), frame)
    graph = cairn.lineage(run.info.run_id, depth=1)
    used = {dst for src, dst, rel in graph.edges if rel is Relation.USED}
    assert used == {version.node, other.node, made.node}
    assert graph.root == run_node(run.info.run_id)
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert {(i.dataset.name, i.dataset.digest) for i in inputs} == {
        ("points", version.digest),
        ("numbers", other.digest),
        ("made", made.digest),
    }


def test_search_runs_takes_mlflows_arguments(workspace: Path) -> None:
    mlflow.set_experiment("a")
    for value in (0.1, 0.2, 0.3):
        with mlflow.start_run(run_name=f"r{value}"):
            mlflow.log_metric("m", value)
            mlflow.log_param("p", value)
    b = mlflow.set_experiment("b")
    with mlflow.start_run(run_name="in-b"):
        mlflow.log_metric("m", 0.9)
    frame = mlflow.search_runs()  # the active experiment: b
    assert list(frame["tags.mlflow.runName"]) == ["in-b"]
    assert len(mlflow.search_runs(experiment_ids=[b.experiment_id])) == 1
    both = mlflow.search_runs(
        experiment_names=["a", "b"], order_by=["metrics.m DESC"], max_results=3
    )
    assert list(both["metrics.m"]) == [0.9, 0.3, 0.2]
    assert len(mlflow.search_runs(search_all_experiments=True)) == 4
    filtered = mlflow.search_runs(experiment_names=["a"], filter_string="metrics.m >= 0.2")
    assert sorted(filtered["params.p"]) == ["0.2", "0.3"]
    listed = mlflow.search_runs(experiment_names=["a"], output_format="list", max_results=1)
    assert [r.info.run_name for r in listed] == ["r0.3"]  # newest first
    assert mlflow.search_runs(experiment_names=["nowhere"]).empty
    empty = mlflow.search_runs(experiment_names=["a"], run_view_type=2)
    assert list(empty.columns) == INFO_COLUMNS
    with pytest.raises(InvalidValueError, match="not both"):
        mlflow.search_runs(experiment_ids=["1"], experiment_names=["a"])
    with pytest.raises(InvalidValueError, match="output_format"):
        mlflow.search_runs(output_format="arrow")
    with pytest.raises(FilterSyntaxError):
        mlflow.search_runs(filter_string="metrics.m >>> 1")


@pytest.mark.parametrize("mlflow_store", ["sqlite", "file"])
def test_search_runs_and_get_run_answer_as_real_mlflow_does(
    workspace: Path, mlflow_store: str
) -> None:
    """The same script, once with `import mlflow` on MLflow's own store and once with
    cairn.mlflow on a cairn workspace: the same columns and dtypes, the same order and
    filter results, the same params, metrics and tags, the same kinds of values."""
    stores = {"sqlite": f"sqlite:///{workspace / 'mlflow.db'}", "file": str(workspace / "mlruns")}
    theirs, ours = run_both(
        SAME_SCRIPT, workspace / "scripts", stores[mlflow_store], str(workspace / "ws")
    )
    assert ours == theirs
    assert ours["leading"] == INFO_COLUMNS and ours["dtypes"]["start_time"] == "datetime64[us, UTC]"
    assert "tags.mlflow.parentRunId" in ours["columns"] and "params.nothing" in ours["columns"]


def test_tracking_uri_names_a_cairn_workspace(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = workspace / "project"
    mlflow.set_tracking_uri(project)
    assert mlflow.get_tracking_uri() == f"sqlite:///{project / '.cairn' / 'cairn.db'}"
    assert os.environ["CAIRN_BLOBS"] == str(project / ".cairn" / "blobs")
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert (project / ".cairn" / "cairn.db").is_file()
    mlflow.set_tracking_uri(f"file://{project / '.cairn'}")  # .cairn itself, as a file URL
    assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'other' / 'cairn.db'}")
    assert os.environ["CAIRN_BLOBS"] == str(workspace / "other" / "blobs")
    assert mlflow.is_tracking_uri_set()
    with pytest.raises(NotFoundError):
        mlflow.get_run(run.info.run_id)  # another workspace


def test_tracking_uri_refuses_mlflow_stores_and_servers(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = workspace / "mlflow.db"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TABLE experiment_tags (key TEXT)")
    with pytest.raises(InvalidValueError, match="cairn import mlflow"):
        mlflow.set_tracking_uri(f"sqlite:///{database}")
    (workspace / "mlruns" / ".trash").mkdir(parents=True)
    with pytest.raises(InvalidValueError, match="MLflow file store"):
        mlflow.set_tracking_uri(workspace / "mlruns")
    with pytest.raises(InvalidValueError, match="cairn workspace"):
        mlflow.set_tracking_uri("http://127.0.0.1:5000")
    monkeypatch.delenv("CAIRN_BLOBS")
    with pytest.raises(InvalidValueError, match="CAIRN_BLOBS"):
        mlflow.set_tracking_uri("postgresql://user@127.0.0.1/db")
    with pytest.raises(InvalidValueError, match="file"):
        mlflow.set_tracking_uri("sqlite://")


def test_experiments(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = mlflow.create_experiment("made")
    assert mlflow.get_experiment(created).name == "made"
    with pytest.raises(InvalidValueError, match="already exists"):
        mlflow.create_experiment("made")
    assert mlflow.get_experiment_by_name("none") is None
    with pytest.raises(NotFoundError):
        mlflow.get_experiment("999")
    chosen = mlflow.set_experiment(experiment_id=created)
    assert (chosen.name, chosen.lifecycle_stage) == ("made", "active")
    with mlflow.start_run() as run:
        pass
    assert mlflow.get_run(run.info.run_id).info.experiment_id == created
    with pytest.raises(InvalidValueError, match="one of them"):
        mlflow.set_experiment()
    monkeypatch.setattr(experiments, "_active", None)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        pass
    assert cairn.get_run(run.info.run_id).experiment == "from-env"
    with mlflow.start_run(experiment_id=created) as run:
        pass
    assert cairn.get_run(run.info.run_id).experiment == "made"


def test_git_tags_come_from_the_code_record(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo(workspace / "repo", {"train.py": "print(1)\n"})
    monkeypatch.chdir(repo)
    with mlflow.start_run() as run:
        pass
    commit = cairn.get_run(run.info.run_id).code()["commit"]
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit and tags["mlflow.source.git.branch"] == "main"
