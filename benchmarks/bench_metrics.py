"""Logging metrics: cairn's `run.log` against `mlflow.log_metric`, both on SQLite.

For each tool: the amortized cost of one logging call per metric, and how many metrics per
second end up durable (from the first call until everything is committed).
Run: python benchmarks/bench_metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _report import report


def bench_cairn(workdir: Path, n: int, store_url: str | None = None) -> tuple[float, float]:
    os.environ["CAIRN_STORE"] = store_url or f"sqlite:///{workdir / 'cairn.db'}"
    os.environ["CAIRN_BLOBS"] = str(workdir / "blobs")
    import cairn
    from cairn.store import reset_store

    reset_store()
    with cairn.start_run("bench", experiment="bench") as run:
        started = time.perf_counter()
        for step in range(n):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        logged = time.perf_counter()
        run.flush()
        durable = time.perf_counter()
    assert len(cairn.get_run(run.id).metric_history("loss")) == n
    return (logged - started) / n * 1e6, n / (durable - started)


def bench_mlflow(workdir: Path, n: int, synchronous: bool) -> tuple[float, float]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir / f'mlflow-{synchronous}.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        started = time.perf_counter()
        for step in range(n):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=synchronous)
        logged = time.perf_counter()
        if not synchronous:
            mlflow.flush_async_logging()
        durable = time.perf_counter()
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert len(history) == n
    return (logged - started) / n * 1e6, n / (durable - started)


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"cairn_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        from cairn.store import reset_store

        reset_store()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer metrics, for a smoke run")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CAIRN_BENCH_PG"),
        help="also run cairn against this PostgreSQL URL",
    )
    args = parser.parse_args()
    n_cairn = 20_000 if args.quick else 1_000_000
    n_mlflow = 100 if args.quick else 1_000
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = {"cairn run.log (SQLite)": (n_cairn, *bench_cairn(workdir, n_cairn))}
        if args.postgres:
            with scratch_database(args.postgres) as url:
                results["cairn run.log (PostgreSQL)"] = (
                    n_cairn,
                    *bench_cairn(workdir, n_cairn, url),
                )
        results["mlflow.log_metric (SQLite, sync)"] = (
            n_mlflow,
            *bench_mlflow(workdir, n_mlflow, True),
        )
        results["mlflow.log_metric (SQLite, synchronous=False)"] = (
            n_mlflow,
            *bench_mlflow(workdir, n_mlflow, False),
        )
    base_cost = results["mlflow.log_metric (SQLite, sync)"][1]
    base_rate = results["mlflow.log_metric (SQLite, sync)"][2]
    rows = [
        [
            name,
            f"{n:,}",
            f"{cost:,.2f}",
            f"{base_cost / cost:,.0f}x",
            f"{rate:,.0f}",
            f"{rate / base_rate:,.0f}x",
        ]
        for name, (n, cost, rate) in results.items()
    ]
    report(
        "metrics",
        "Logging metrics",
        [
            "tool",
            "metrics",
            "µs per metric (call)",
            "vs mlflow sync",
            "metrics/s durable",
            "vs mlflow sync",
        ],
        rows,
        "Targets: run.log <= 5 µs per metric, >= 200,000 metrics/s durable in SQLite.",
    )


if __name__ == "__main__":
    sys.exit(main())
