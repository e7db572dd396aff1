"""The model registry with 1,000 models x 20 versions: `ls`, `show` and resolving an alias,
cairn against MLflow's registry on the same counts; and loading a scikit-learn model in a
fresh process, cairn against `joblib.load` of the same bytes plus a digest check.

Both registries are filled in bulk through their own tables, from rows their own API wrote
for the first model (MLflow's client needs ~20 ms a version: 20,000 would take minutes and
measure nothing asked here). The operations run alternately, round by round; the table has
medians and the spread (the slowest round over the fastest).
Run: python benchmarks/bench_models.py [--models 1000] [--versions 20] [--rounds 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from _report import report

SKLEARN_LOAD = """
import sys, time
start = time.perf_counter()
{body}
sys.stdout.write(str(time.perf_counter() - start))
"""
CAIRN_LOAD = "import cairn\nm = cairn.models.load('forest/1')"
JOBLIB_LOAD = (
    "import io, joblib, blake3\ndata = open('forest.joblib', 'rb').read()\n"
    "assert blake3.blake3(data).hexdigest() == open('forest.digest').read()\n"
    "m = joblib.load(io.BytesIO(data))"
)
MLFLOW_LOAD = "import mlflow.sklearn\nm = mlflow.sklearn.load_model('forest-mlflow')"


def copy_rows(conn: sa.Connection, table: sa.Table, template: dict, changes: list[dict]) -> None:
    """Insert one row per change: the template row with those columns replaced."""
    for start in range(0, len(changes), 5_000):
        conn.execute(table.insert(), [{**template, **c} for c in changes[start : start + 5_000]])


def row_of(conn: sa.Connection, table: sa.Table, **where: object) -> dict:
    query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
    return dict(conn.execute(query).mappings().one())


def fill_cairn(root: Path, n_models: int, n_versions: int) -> None:
    import cairn
    from cairn.store import get_store, schema

    os.chdir(root)
    store = get_store()
    tiny = lambda rows: rows  # noqa: E731 - a pyfunc model: its payload is small
    for v in range(n_versions):
        cairn.models.register("m0000", tiny if v == 0 else (lambda rows, v=v: rows), owner="ml")
    cairn.models.set_alias("m0000", "production", n_versions)
    cairn.models.set_alias("m0000", "staging", n_versions - 1)
    with store.writer() as conn:
        art = row_of(conn, schema.artifacts, name="m0000", version=1)
        ver = row_of(conn, schema.model_versions, name="m0000", version=1)
        model = row_of(conn, schema.models, name="m0000")
        alias = row_of(conn, schema.model_aliases, name="m0000", alias="production")
        next_id = conn.execute(sa.select(sa.func.max(schema.artifacts.c.id))).scalar() + 1
        names = [f"m{i:04d}" for i in range(1, n_models)]
        copy_rows(conn, schema.models, model, [{"name": n} for n in names])
        ids = {(n, v): next_id + i * n_versions + v - 1
               for i, n in enumerate(names) for v in range(1, n_versions + 1)}  # fmt: skip
        del art["id"]
        copy_rows(conn, schema.artifacts, art,
                  [{"id": a, "name": n, "version": v} for (n, v), a in ids.items()])  # fmt: skip
        changes = [{"name": n, "version": v, "artifact_id": a} for (n, v), a in ids.items()]
        copy_rows(conn, schema.model_versions, ver, changes)
        copy_rows(conn, schema.model_aliases, alias,
                  [{"name": n, "alias": a, "version": n_versions - k}
                   for n in names for k, a in enumerate(("production", "staging"))])  # fmt: skip
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


def fill_mlflow(root: Path, n_models: int, n_versions: int):
    from mlflow.tracking import MlflowClient

    url = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    client.create_registered_model("m0000")
    for _ in range(n_versions):
        client.create_model_version("m0000", source=str(root / "artifacts"), run_id=None)
    client.set_registered_model_alias("m0000", "production", str(n_versions))
    client.set_registered_model_alias("m0000", "staging", str(n_versions - 1))
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    models, versions = meta.tables["registered_models"], meta.tables["model_versions"]
    aliases = meta.tables["registered_model_aliases"]
    names = [f"m{i:04d}" for i in range(1, n_models)]
    with engine.begin() as conn:
        copy_rows(conn, models, row_of(conn, models, name="m0000"), [{"name": n} for n in names])
        changes = [{"name": n, "version": v} for n in names for v in range(1, n_versions + 1)]
        copy_rows(conn, versions, row_of(conn, versions, name="m0000", version=1), changes)
        template = row_of(conn, aliases, name="m0000", alias="production")
        copy_rows(conn, aliases, template,
                  [{"name": n, "alias": a, "version": n_versions - k}
                   for n in names for k, a in enumerate(("production", "staging"))])  # fmt: skip
    engine.dispose()
    return client


def mlflow_ls(client) -> int:
    found, token = 0, None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += len(page)
        token = page.token
        if not token:
            return found


def mlflow_show(client, name: str) -> int:
    client.get_registered_model(name)
    return len(client.search_model_versions(f"name='{name}'"))


def cairn_ls_cli() -> None:
    """`cairn models ls` in process, as typed (its first 100 models, the count of all): the
    query and the table, printed to nowhere."""
    from cairn.cli import models as cli
    from cairn.cli.output import console

    with console.capture():
        cli.list_command(as_json=False, columns=None, limit=100)


def cairn_show_cli(name: str) -> None:
    from cairn.cli import models as cli
    from cairn.cli.output import console

    with console.capture():
        cli.show_command(name, version=None, as_json=False, columns=None)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fresh_process(body: str, cwd: Path) -> float:
    """Seconds from the interpreter's first line to the loaded model, and the process's
    whole wall time (interpreter start and imports included)."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", SKLEARN_LOAD.format(body=body)],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - start, float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-models-"))
    os.environ["CAIRN_STORE"] = f"sqlite:///{tmp / 'cairn.db'}"
    os.environ["CAIRN_BLOBS"] = str(tmp / "blobs")
    fill_cairn(tmp, args.models, args.versions)
    client = fill_mlflow(tmp, args.models, args.versions)
    prepare_forest(tmp)

    import cairn

    probe = f"m{args.models // 2:04d}"
    counts = (len(cairn.models.list_models()), args.models + 1, mlflow_ls(client) + 1)
    assert counts[0] == counts[1] == counts[2], counts  # + the forest, in cairn only
    assert len(cairn.models.list_versions(probe)) == args.versions == mlflow_show(client, probe)
    cases: dict[str, Callable[[], object]] = {
        "ls: cairn models ls (query + first 100 as a table)": cairn_ls_cli,
        "ls: cairn.models.list_models()": cairn.models.list_models,
        "ls: MLflow search_registered_models (all pages)": lambda: mlflow_ls(client),
        "show: cairn models show NAME (query + table)": lambda: cairn_show_cli(probe),
        "show: MLflow get_registered_model + search_model_versions": lambda: mlflow_show(
            client, probe
        ),
        "resolve: cairn get_version('NAME@production')": lambda: cairn.models.get_version(
            f"{probe}@production"
        ),
        "resolve: MLflow get_model_version_by_alias": lambda: client.get_model_version_by_alias(
            probe, "production"
        ),
    }
    loads = {
        "fresh load: cairn.models.load('forest/1')": CAIRN_LOAD,
        "fresh load: joblib.load + BLAKE3 check": JOBLIB_LOAD,
        "fresh load: mlflow.sklearn.load_model": MLFLOW_LOAD,
    }
    samples: dict[str, list[float]] = {k: [] for k in [*cases, *loads]}
    walls: dict[str, list[float]] = {k: [] for k in loads}
    for _ in range(args.rounds):
        for label, fn in cases.items():
            samples[label].append(timed(fn, 5 if label.startswith(("ls", "show")) else 200))
        for label, body in loads.items():
            wall, inside = fresh_process(body, tmp)
            walls[label].append(wall)
            samples[label].append(inside)
    rows = []
    for label in samples:
        median = statistics.median(samples[label])
        spread = max(samples[label]) / min(samples[label])
        anchor = _anchor_of(label, samples)
        ratio = f"{median / statistics.median(samples[anchor]):.2f}x" if anchor else ""
        wall = f"{statistics.median(walls[label]) * 1e3:,.0f}" if label in walls else ""
        rows.append([label, _ms(median), f"{spread:.2f}", ratio, wall])
    report(
        "models",
        f"Model registry, {args.models:,} models x {args.versions} versions (SQLite), "
        f"{args.rounds} alternating rounds",
        ["operation", "median ms", "spread", "vs anchor", "process wall ms"],
        rows,
        notes=(
            "Targets: ls and show under 200 ms; resolving NAME@ALIAS under 1 ms warm; a "
            "fresh-process load within 1.2x of joblib.load plus the digest check. 'vs anchor' "
            "compares with the MLflow row of the same operation (ls, show, resolve) or with "
            "joblib (loads). A load's time is from the child's first line (its imports and "
            "the load) to the model; 'process wall' adds the interpreter's start."
        ),
    )


def _anchor_of(label: str, samples: dict[str, list[float]]) -> str | None:
    group = label.split(":", 1)[0]
    anchor = next(
        (k for k in samples if k.startswith(group) and ("MLflow" in k or "joblib" in k)), None
    )
    return None if anchor == label else anchor


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.3f}" if seconds < 0.01 else f"{seconds * 1e3:,.1f}"


def prepare_forest(root: Path) -> None:
    """One random forest, registered in cairn, dumped with joblib and saved by MLflow."""
    import blake3
    import joblib
    import mlflow.sklearn
    from sklearn.ensemble import RandomForestClassifier

    import cairn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    cairn.models.register("forest", forest, owner="ml", example=X[:5])
    buffer = io.BytesIO()
    joblib.dump(forest, buffer)
    (root / "forest.joblib").write_bytes(buffer.getvalue())
    (root / "forest.digest").write_text(blake3.blake3(buffer.getvalue()).hexdigest())
    # skops (MLflow's default) refuses trees unless told to trust them; cloudpickle is what
    # most existing MLflow models use.
    mlflow.sklearn.save_model(
        forest, str(root / "forest-mlflow"), serialization_format="cloudpickle"
    )


if __name__ == "__main__":
    main()
