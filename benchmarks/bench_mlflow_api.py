"""Logging metric points through MLflow's API on cairn: `cairn.mlflow.log_metric` against
cairn's own `run.log` (the target: within 2x) and against real `mlflow.log_metric` on
MLflow's SQLite and file stores.

Each case logs its points into a fresh run, one call per point, step given (and once
without, cairn's next step); "per call" is the logging loop, "durable" adds making every
point durable (cairn: flush; MLflow writes each point before the call returns). The cases
run alternately, round by round; the table has medians and the spread (the slowest round
over the fastest). MLflow takes milliseconds a point, so it logs fewer points a round.
Run: python benchmarks/bench_mlflow_api.py [--points 100000] [--mlflow-points 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from _report import report

Timing = tuple[float, float]  # seconds per point: the calls, the calls until durable


def cairn_run_log(n: int) -> Timing:
    import cairn

    with cairn.start_run("bench", experiment="bench") as run:
        started = time.perf_counter()
        for step in range(n):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        logged = time.perf_counter()
        run.flush()
        durable = time.perf_counter()
    assert len(cairn.get_run(run.id).metric_history("loss")) == n
    return (logged - started) / n, (durable - started) / n


def cairn_mlflow_log_metric(n: int, with_step: bool = True) -> Timing:
    import cairn
    import cairn.mlflow as mlflow

    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        started = time.perf_counter()
        if with_step:
            for step in range(n):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        else:
            for step in range(n):
                mlflow.log_metric("loss", 1.0 / (step + 1))
        logged = time.perf_counter()
        mlflow.flush_async_logging()
        durable = time.perf_counter()
    assert len(cairn.get_run(run.info.run_id).metric_history("loss")) == n
    return (logged - started) / n, (durable - started) / n


def real_mlflow_log_metric(n: int, uri: str) -> Timing:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        started = time.perf_counter()
        for step in range(n):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        logged = time.perf_counter()
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert len(history) == n
    return (logged - started) / n, (logged - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-points", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-mlflow-"))
    os.environ["CAIRN_STORE"] = f"sqlite:///{tmp / 'cairn.db'}"
    os.environ["CAIRN_BLOBS"] = str(tmp / "blobs")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 asks before using its file store
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    n, m = args.points, args.mlflow_points
    cases: dict[str, tuple[int, Callable[[], Timing]]] = {
        "cairn run.log (SQLite)": (n, lambda: cairn_run_log(n)),
        "cairn.mlflow.log_metric, step= (SQLite)": (n, lambda: cairn_mlflow_log_metric(n)),
        "cairn.mlflow.log_metric, no step (SQLite)": (
            n,
            lambda: cairn_mlflow_log_metric(n, with_step=False),
        ),
        "mlflow.log_metric (MLflow SQLite store)": (
            m,
            lambda: real_mlflow_log_metric(m, f"sqlite:///{tmp / 'mlflow.db'}"),
        ),
        "mlflow.log_metric (MLflow file store)": (
            m,
            lambda: real_mlflow_log_metric(m, (tmp / "mlruns").as_uri()),
        ),
    }
    calls: dict[str, list[float]] = {k: [] for k in cases}
    durable: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for label, (_, case) in cases.items():
            per_call, per_point = case()
            calls[label].append(per_call)
            durable[label].append(per_point)
    anchor = "cairn run.log (SQLite)"
    rows = []
    for label, (points, _) in cases.items():
        call, done = statistics.median(calls[label]), statistics.median(durable[label])
        rows.append(
            [
                label,
                f"{points:,}",
                f"{call * 1e6:,.2f}",
                f"{max(calls[label]) / min(calls[label]):.2f}",
                f"{call / statistics.median(calls[anchor]):,.2f}x",
                f"{done * 1e6:,.2f}",
                f"{done / statistics.median(durable[anchor]):,.2f}x",
            ]
        )
    report(
        "mlflow_api",
        f"MLflow's logging API on cairn, {args.rounds} alternating rounds",
        [
            "case",
            "points",
            "µs per call",
            "spread",
            "vs run.log",
            "µs per point durable",
            "vs run.log",
        ],
        rows,
        notes=(
            "Target: cairn.mlflow.log_metric within 2x of run.log per call. 'durable' counts "
            "until every point is committed (cairn flushes its background writer; MLflow "
            "commits each point in the call). MLflow logs fewer points a round: at "
            "milliseconds a point the per-point cost does not depend on how many."
        ),
    )


if __name__ == "__main__":
    main()
