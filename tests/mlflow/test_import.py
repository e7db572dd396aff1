"""`cairn import mlflow`: stores made by MLflow itself (its file store and SQLite, and
PostgreSQL) imported and compared field by field with what MLflow's client reads; a second
import adds nothing; the source is left as it was; bad sources are clear errors."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from cairn import models
from cairn.mlflow.import_models import KEPT_SUFFIX, VERSION_TAG
from cairn.mlflow.importing import import_mlflow
from cairn.mlflow.mlflow_source import NotAnMlflowStore
from cairn.store import get_store, schema
from cairn.tracking.query import get_run

mlflow = pytest.importorskip("mlflow")

X = np.random.default_rng(0).normal(size=(60, 3))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
PIP = ["scikit-learn", "numpy"]  # given, so MLflow does not infer requirements (minutes)


class Doubler(mlflow.pyfunc.PythonModel):
    """A python_function model of no flavor cairn runs: kept as files."""

    def predict(self, context, model_input, params=None):
        return np.asarray(model_input) * 2


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """MLflow's fluent API on `uri` while the block runs (file stores allowed); MLflow's
    globals and the variables it sets are as they were afterwards."""
    names = ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before = {name: os.environ.get(name) for name in names}
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fill(uri: str, artifacts: Path) -> None:
    """A few experiments, runs with params, metric histories (NaN, repeated steps, names
    with '/'), tags, artifacts, a dataset input, a nested run, a failed and a running run,
    and a registered model with three versions (two sklearn, one bare pyfunc), tags and an
    alias. Written by MLflow itself."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    with tracking(uri):
        client = mlflow.MlflowClient()
        a = client.create_experiment("exp-a", artifact_location=str(artifacts / "a"))
        b = client.create_experiment("team/exp-b", artifact_location=str(artifacts / "b"))
        with mlflow.start_run(experiment_id=a, run_name="first") as first:
            mlflow.log_params({"alpha": 0.5, "n": 3, "name": "x", "lr": "1e-3", "flag": True})
            for step in range(5):
                mlflow.log_metrics({"loss": 1 / (step + 1), "train/acc": step / 4}, step=step)
            mlflow.log_metric("odd", float("nan"), step=0)
            mlflow.set_tags({"team": "a", "note": "first run"})
            mlflow.log_text("hello", "notes/hello.txt")
            mlflow.log_dict({"a": 1}, "cfg.json")
            frame = pd.DataFrame(X, columns=["f0", "f1", "f2"])
            mlflow.log_input(mlflow.data.from_pandas(frame, name="train-data"), context="training")
            small = LogisticRegression(C=0.1).fit(X, Y)
            mlflow.sklearn.log_model(
                small, name="model", input_example=X[:3], pip_requirements=PIP,
                registered_model_name="clf", serialization_format="cloudpickle",
            )  # fmt: skip
            with mlflow.start_run(experiment_id=a, run_name="child", nested=True):
                mlflow.log_metric("inner", 1.5)
        with mlflow.start_run(experiment_id=b, run_name="second") as second:
            mlflow.log_param("alpha", 0.25)
            mlflow.log_metric("loss", 0.9)  # step 0, twice: MLflow keeps both
            mlflow.log_metric("loss", 0.7)
            mlflow.log_dict({"b": [1, 2]}, "deep/er/cfg.json")
            large = LogisticRegression(C=10.0).fit(X, Y)
            mlflow.sklearn.log_model(
                large, name="model", pip_requirements=PIP, registered_model_name="clf",
                signature=mlflow.models.infer_signature(X, large.predict(X)),
            )  # fmt: skip
            mlflow.pyfunc.log_model(
                name="doubler", python_model=Doubler(), pip_requirements=PIP,
                registered_model_name="clf",
            )  # fmt: skip
            mlflow.end_run("FAILED")
        running = client.create_run(b, run_name="still-running")
        client.log_metric(running.info.run_id, "progress", 0.5, step=1)
        client.set_registered_model_tag("clf", "domain", "toys")
        client.update_registered_model("clf", description="a classifier")
        client.set_model_version_tag("clf", "2", "checked", "yes")
        client.set_registered_model_alias("clf", "champion", "2")
        assert first.info.run_id and second.info.run_id


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same content in MLflow's file store and in an MLflow SQLite database."""
    root = tmp_path_factory.mktemp("mlflow-sources")
    fill((root / "files" / "mlruns").as_uri(), root / "files" / "artifacts")
    fill(f"sqlite:///{root / 'sqlite' / 'mlflow.db'}", root / "sqlite" / "artifacts")
    return {"files": root / "files" / "mlruns", "sqlite": root / "sqlite" / "mlflow.db"}


def fingerprint(path: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `path` (or `path` itself): size, mtime and content digest."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*"))
    found = {}
    for file in files:
        info = file.stat()
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "dir"
        found[str(file)] = (info.st_size, info.st_mtime_ns, digest)
    return found


def source_uri(kind: str, path: Path) -> str:
    return path.as_uri() if kind == "files" else f"sqlite:///{path}"


def mlflow_client(kind: str, path: Path):
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    uri = source_uri(kind, path)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


COUNTED = ("runs", "params", "tags", "metrics", "latest_metrics", "artifacts", "lineage_edges",
           "model_versions", "model_tags", "alias_moves", "experiments")  # fmt: skip


def counts() -> dict[str, int]:
    """Rows in each table an import writes."""
    with get_store().reader() as conn:
        return {
            name: conn.execute(
                sa.select(sa.func.count()).select_from(schema.metadata.tables[name])
            ).scalar()
            for name in COUNTED
        }


def cairn_runs() -> dict[str, str]:
    """MLflow run id -> cairn run id, from the import's tag."""
    tags = schema.tags
    with get_store().reader() as conn:
        rows = conn.execute(
            sa.select(tags.c.value, tags.c.run_id).where(tags.c.key == "mlflow.run_id")
        )
        return dict(rows.all())


def param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def mlflow_files(client, run_id: str, path: str = "") -> dict[str, bytes]:
    found = {}
    for info in client.list_artifacts(run_id, path or None):
        if info.is_dir:
            found.update(mlflow_files(client, run_id, info.path))
        else:
            local = client.download_artifacts(run_id, info.path)
            found[info.path] = Path(local).read_bytes()
    return found


def compare_runs(client, mapping: dict[str, str]) -> None:
    """Every MLflow run against its cairn copy, field by field."""
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    assert len(runs) == 4 and set(mapping) == {r.info.run_id for r in runs}
    names = {e.experiment_id: e.name.replace("/", ".") for e in experiments}
    store = get_store()
    for run in runs:
        info, data = run.info, run.data
        record = get_run(mapping[info.run_id])
        assert record.name == info.run_name
        assert record.experiment == names[info.experiment_id]
        assert record.status.value == {"RUNNING": "running", "FINISHED": "finished",
                                       "FAILED": "failed"}[info.status]  # fmt: skip
        assert record.started == info.start_time / 1000
        assert record.ended == (info.end_time / 1000 if info.end_time else None)
        assert record.user == (info.user_id or None)
        assert {k: param_text(v) for k, v in record.params.items()} == data.params
        expected_tags = {k.replace("/", "."): v for k, v in data.tags.items()}
        assert record.tags == {**expected_tags, "mlflow.run_id": info.run_id}
        parent = data.tags.get("mlflow.parentRunId")
        assert record.parent_id == (mapping[parent] if parent else None)
        assert set(record.metrics) == {k.replace("/", ".") for k in data.metrics}
        for key, latest in data.metrics.items():
            assert same_number(record.metrics[key.replace("/", ".")], latest)
            history = client.get_metric_history(info.run_id, key)
            theirs = sorted((m.step, m.timestamp / 1000, m.value) for m in history)
            ours = sorted((s, ts, v) for s, v, ts in record.metric_history(key.replace("/", ".")))
            assert len(ours) == len(theirs)
            for (s1, t1, v1), (s2, t2, v2) in zip(ours, theirs, strict=True):
                assert (s1, t1) == (s2, t2) and same_number(v1, v2)
        files = {
            a.meta["path"]: bytes(store.blobs.get(a.digest))
            for a in record.artifacts()
            if a.kind == "file"
        }
        expected = mlflow_files(client, info.run_id)
        for model in client.search_logged_models([info.experiment_id]):
            if model.source_run_id == info.run_id:
                folder = Path(mlflow.artifacts.download_artifacts(model.artifact_location))
                expected.update({f"{model.name}/{p.relative_to(folder).as_posix()}": p.read_bytes()
                                 for p in folder.rglob("*") if p.is_file()})  # fmt: skip
        assert files == expected
        used = _datasets_used(record.id)
        assert [(d["name"], d["digest"], d["source_type"]) for d in used] == [
            (i.dataset.name, i.dataset.digest, i.dataset.source_type)
            for i in run.inputs.dataset_inputs
        ]


def _datasets_used(run_id: str) -> list[dict]:
    store = get_store()
    edges, artifacts = schema.lineage_edges, schema.artifacts
    with store.reader() as conn:
        digests = (
            conn.execute(
                sa.select(artifacts.c.digest)
                .join(
                    edges,
                    edges.c.dst == sa.literal("artifact:") + sa.cast(artifacts.c.id, sa.String),
                )
                .where(
                    edges.c.src == f"run:{run_id}",
                    edges.c.relation == "used",
                    artifacts.c.kind == "dataset",
                )  # fmt: skip
            )
            .scalars()
            .all()
        )
    return [store.get_value(d) for d in digests]


def compare_models(client, mapping: dict[str, str]) -> None:
    registered = client.get_registered_model("clf")
    info = models.get_model("clf")
    assert info.tags == {"domain": "toys", "mlflow.description": "a classifier"}
    versions = {int(v.tags[VERSION_TAG]): v for v in models.list_versions("clf")}
    assert set(versions) == {1, 2}  # the pyfunc version is kept as files
    for number, version in versions.items():
        theirs = client.get_model_version("clf", str(number))
        assert version.flavor == "sklearn"
        assert version.run_id == mapping[theirs.run_id]
        assert {k: v for k, v in version.tags.items() if k in theirs.tags} == theirs.tags
        native = mlflow.sklearn.load_model(client.get_model_version_download_uri("clf", number))
        assert (models.load(f"clf/{version.version}").predict(X) == native.predict(X)).all()
        assert version.signature is not None  # from the example (1), the signature (2)
    assert info.aliases == {"champion": versions[int(registered.aliases["champion"])].version}
    kept = get_store().get_value(_kept("clf").digest)
    assert "MLmodel" in kept["files"] and "python_model.pkl" in kept["files"]


def _kept(name: str):
    from cairn.tracking.artifacts import resolve

    return resolve(get_store(), name + KEPT_SUFFIX)


@pytest.mark.parametrize("kind", ["files", "sqlite"])
def test_an_mlflow_store_is_imported_field_by_field_once(
    kind: str, sources: dict[str, Path], workspace: Path
) -> None:
    path = sources[kind]
    before = fingerprint(path.parent)
    report = import_mlflow(path)
    assert fingerprint(path.parent) == before
    assert (report.runs, report.unchanged, report.models.versions) == (4, 0, 2)
    assert report.renamed == {"team/exp-b": "team.exp-b", "train/acc": "train.acc"}
    assert report.models.aliases == 1 and len(report.models.kept) == 1
    client = mlflow_client(kind, path)
    mapping = cairn_runs()
    with mlflow.tracking._tracking_service.utils._use_tracking_uri(source_uri(kind, path)):
        compare_runs(client, mapping)
        compare_models(client, mapping)
    imported, before = counts(), fingerprint(path.parent)
    again = import_mlflow(path)
    assert (again.runs, again.refreshed, again.unchanged) == (0, 1, 3)  # the running run
    assert (again.models.versions, again.models.unchanged, again.models.aliases) == (0, 3, 0)
    assert counts() == imported
    assert fingerprint(path.parent) == before
    assert not (workspace / "mlflow.db").exists() and not (workspace / "mlruns").exists()


def test_a_run_that_ended_since_is_refreshed(sources: dict[str, Path], workspace: Path) -> None:
    copy = workspace / "copy.db"
    shutil.copy(sources["sqlite"], copy)
    import_mlflow(copy)
    client = mlflow.MlflowClient(f"sqlite:///{copy}")
    (running,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "attributes.status = 'RUNNING'"
    )
    client.log_metric(running.info.run_id, "progress", 1.0, step=2)
    client.set_terminated(running.info.run_id, "KILLED")
    report = import_mlflow(copy)
    assert (report.runs, report.refreshed, report.unchanged) == (0, 1, 3)
    record = get_run(cairn_runs()[running.info.run_id])
    assert record.status.value == "killed" and record.metrics == {"progress": 1.0}
    assert [step for step, _, _ in record.metric_history("progress")] == [1, 2]
    assert import_mlflow(copy).refreshed == 0


def _edited_copy(sources: dict[str, Path], workspace: Path, *statements: str) -> Path:
    copy = workspace / "edited.db"
    shutil.copy(sources["sqlite"], copy)
    with sqlite3.connect(copy) as conn:
        for statement in statements:
            conn.execute(statement)
    return copy


def test_a_child_seen_before_its_parent_waits_for_it(
    sources: dict[str, Path], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.mlflow import mlflow_source

    child = "(SELECT run_uuid FROM runs WHERE name = 'child')"
    copy = _edited_copy(
        sources, workspace, f"UPDATE runs SET start_time = 1 WHERE run_uuid = {child}"
    )
    monkeypatch.setattr(mlflow_source, "PAGE_RUNS", 1)  # the child's page comes first, alone
    assert import_mlflow(copy).runs == 4
    records = {get_run(i).name: get_run(i) for i in cairn_runs().values()}
    assert records["child"].parent_id == records["first"].id


def test_a_child_whose_parent_was_deleted_is_imported_without_the_link(
    sources: dict[str, Path], workspace: Path
) -> None:
    copy = _edited_copy(
        sources, workspace, "UPDATE runs SET lifecycle_stage = 'deleted' WHERE name = 'first'"
    )
    report = import_mlflow(copy)
    assert report.runs == 3
    records = {get_run(i).name: get_run(i) for i in cairn_runs().values()}
    assert set(records) == {"child", "second", "still-running"}
    assert records["child"].parent_id is None
    assert records["child"].tags["mlflow.parentRunId"]  # still names it


def test_sqlite_source_stays_byte_for_byte(sources: dict[str, Path], workspace: Path) -> None:
    # Opened read-only: MLflow's start-up would add a missing default experiment.
    copy = workspace / "no-default.db"
    shutil.copy(sources["sqlite"], copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DELETE FROM experiment_tags WHERE experiment_id = 0")
        conn.execute("DELETE FROM experiments WHERE experiment_id = 0")
    before = fingerprint(copy)
    report = import_mlflow(f"sqlite:///{copy}")
    assert report.runs == 4
    assert fingerprint(copy) == before


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: _folder(root / "plain", {"a.txt": "x"}), "not an MLflow store"),
        (lambda root: _folder(root, {"notes.txt": "x"}) / "notes.txt", "neither"),
        (lambda root: _sqlite(root / "other.db"), "not an MLflow tracking database"),
        (lambda root: "http://127.0.0.1:5000", "not a http: URL"),
    ],
)
def test_a_source_that_is_not_an_mlflow_store_is_refused(make, says, workspace: Path) -> None:
    source = make(workspace / "bad")
    with pytest.raises(NotAnMlflowStore, match=says):
        import_mlflow(source)
    if isinstance(source, Path) and source.suffix == ".db":
        assert sa.inspect(sa.create_engine(f"sqlite:///{source}")).get_table_names() == ["t"]


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _sqlite(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    return path


def test_the_command_shows_progress_and_fails_clearly(
    sources: dict[str, Path], workspace: Path
) -> None:
    command = [sys.executable, "-m", "cairn", "import", "mlflow"]
    missing = subprocess.run([*command, str(workspace / "nope")], capture_output=True, text=True)
    said = " ".join(missing.stderr.split())  # Rich wraps lines at the terminal's width
    assert missing.returncode == 1
    assert said.startswith("error:") and "nope does not exist" in said
    done = subprocess.run([*command, str(sources["sqlite"]), "--json"], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"] == 4
    assert "runs" in done.stderr and "4/4" in done.stderr  # the progress bar


@pytest.mark.postgres
def test_a_postgresql_store_is_imported(pg_url: str, workspace: Path, tmp_path: Path) -> None:
    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    fill(url, tmp_path / "pg-artifacts")
    report = import_mlflow(pg_url)
    assert (report.runs, report.models.versions) == (4, 2)
    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    mapping = cairn_runs()
    with mlflow.tracking._tracking_service.utils._use_tracking_uri(url):
        compare_runs(client, mapping)
        compare_models(client, mapping)
    assert import_mlflow(pg_url).runs == 0
