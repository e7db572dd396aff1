"""Importing an MLflow SQLite store: `cairn import mlflow` against a script that copies the
same runs through MLflow's client into another MLflow store (the anchor).

The source holds RUNS runs (in 10 experiments) x 100 metric points (2 metrics x 50 steps) x
10 params, written with `MlflowClient.log_batch` as a user's runs would be. Filling it
takes MLflow about a quarter of a second a run, so it is made once and cached under
/tmp/bench_mlflow/ (a marker file says it is complete). Each round imports the whole store
into a new cairn workspace, then copies it (or, with --anchor-runs N, its first N runs) with
MLflow's client into a new MLflow SQLite store; the two alternate, round by round. The
anchor's time for a part of the store is scaled to the whole by its runs (each run is
copied alone, so its cost does not depend on how many others there are); the table says
when it is. Medians, and the spread (the slowest round over the fastest).
Run: python benchmarks/bench_mlflow_import.py [--runs 10000] [--rounds 3] [--anchor-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import report

CACHE = Path("/tmp/bench_mlflow")
EXPERIMENTS = 10
METRICS = ("loss", "accuracy")
STEPS = 50
PARAMS = 10
T0_MS = 1_700_000_000_000


def source_store(runs: int) -> Path:
    """The cached MLflow SQLite store of `runs` runs, filled on first use."""
    folder = CACHE / f"runs{runs}_metrics{len(METRICS)}x{STEPS}_params{PARAMS}"
    done = folder / "complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        fill_mlflow(folder, runs)
        done.write_text(f"{time.perf_counter() - started:.1f} s to fill\n")
    return folder / "mlflow.db"


def fill_mlflow(folder: Path, runs: int) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [
        client.create_experiment(f"bench-{e}", artifact_location=str(folder / "artifacts" / str(e)))
        for e in range(EXPERIMENTS)
    ]
    for i in range(runs):
        start = T0_MS + i * 60_000
        run = client.create_run(experiments[i % EXPERIMENTS], start_time=start, run_name=f"run-{i}")
        metrics = [
            Metric(key, (1.0 / (step + 1)) if key == "loss" else step / STEPS, start + step, step)
            for key in METRICS
            for step in range(STEPS)
        ]
        params = [Param(f"p{k}", str(k * 0.5 + i)) for k in range(PARAMS)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params,
                         tags=[RunTag("team", f"t{i % 7}")])  # fmt: skip
        client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 50_000)
        if i % 500 == 0:
            print(f"filled {i:,} of {runs:,} runs", file=sys.stderr, flush=True)


ANCHOR = """
import json, sys, time
started = time.perf_counter()
from mlflow import MlflowClient
from mlflow.entities import Param

source, target, limit = MlflowClient(sys.argv[1]), MlflowClient(sys.argv[2]), int(sys.argv[3])
experiments = {}
for e in source.search_experiments():
    found = target.get_experiment_by_name(e.name)
    made = found.experiment_id if found else target.create_experiment(e.name)
    experiments[e.experiment_id] = made
ready = time.perf_counter()
copied, token = 0, None
while copied < limit:
    page = source.search_runs(list(experiments), max_results=min(1000, limit - copied),
                              order_by=["attributes.start_time ASC"], page_token=token)
    for run in page:
        info, data = run.info, run.data
        new = target.create_run(experiments[info.experiment_id], start_time=info.start_time,
                                tags=data.tags, run_name=info.run_name)
        metrics = [m for key in data.metrics for m in source.get_metric_history(info.run_id, key)]
        params = [Param(key, value) for key, value in data.params.items()]
        target.log_batch(new.info.run_id, metrics=metrics, params=params)
        target.set_terminated(new.info.run_id, info.status, info.end_time)
        copied += 1
    token = page.token
    if not token:
        break
print(json.dumps({"setup": ready - started, "copy": time.perf_counter() - ready, "runs": copied}))
"""


def cairn_import(source: Path, workspace: Path) -> float:
    """Wall seconds of `cairn import mlflow SOURCE` into a new workspace (the command as
    typed: interpreter start and imports included)."""
    env = {**os.environ, "CAIRN_STORE": f"sqlite:///{workspace / 'cairn.db'}",
           "CAIRN_BLOBS": str(workspace / "blobs")}  # fmt: skip
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cairn", "import", "mlflow", str(source), "--json"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def anchor_copy(source: Path, target: Path, limit: int) -> tuple[float, float, int]:
    """(fixed seconds, copying seconds, runs copied) of the client-copy script, whose
    process wall time is the first two plus the interpreter's start."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", ANCHOR, f"sqlite:///{source}", f"sqlite:///{target}", str(limit)],
        check=True, capture_output=True, text=True, cwd=target.parent,
    )  # fmt: skip
    wall = time.perf_counter() - started
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return wall - found["copy"], found["copy"], found["runs"]


def check_import(workspace: Path, runs: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{workspace / 'cairn.db'}")
    with engine.connect() as conn:
        counted = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                   for t in ("runs", "metrics", "params")}  # fmt: skip
    engine.dispose()
    expected = {"runs": runs, "metrics": runs * len(METRICS) * STEPS, "params": runs * PARAMS}
    assert counted == expected, (counted, expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--anchor-runs", type=int, default=1_000,
        help="Runs the anchor copies each round (its time is scaled to all of them).",
    )  # fmt: skip
    args = parser.parse_args()
    anchor_runs = min(args.anchor_runs, args.runs)
    source = source_store(args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-mlflow-import-"))
    cairn_s, again_s, anchor_s, anchor_fixed = [], [], [], []
    for round_ in range(args.rounds):
        workspace = tmp / f"cairn-{round_}"
        cairn_s.append(cairn_import(source, workspace))
        if round_ == 0:
            check_import(workspace, args.runs)
        again_s.append(cairn_import(source, workspace))
        shutil.rmtree(workspace)
        target = tmp / f"mlflow-{round_}" / "copy.db"
        target.parent.mkdir()
        fixed, copying, copied = anchor_copy(source, target, anchor_runs)
        assert copied == anchor_runs, copied
        anchor_fixed.append(fixed)
        anchor_s.append(fixed + copying * args.runs / copied)
        shutil.rmtree(target.parent)
    shutil.rmtree(tmp)
    anchor = statistics.median(anchor_s)
    scaled = anchor_runs < args.runs
    anchor_label = (
        f"anchor: MLflow client copy, {anchor_runs:,} runs measured, scaled to {args.runs:,}"
        if scaled
        else f"anchor: MLflow client copy of {args.runs:,} runs"
    )
    rows = [
        _row(f"cairn import mlflow ({args.runs:,} runs)", cairn_s, args.runs, anchor),
        _row("cairn import mlflow again (nothing new)", again_s, args.runs, anchor),
        _row(anchor_label, anchor_s, args.runs, anchor),
    ]
    report(
        "mlflow_import",
        f"Importing an MLflow SQLite store of {args.runs:,} runs x {len(METRICS) * STEPS} metric "
        f"points x {PARAMS} params, {args.rounds} alternating rounds",
        ["operation", "median s", "spread", "ms per run", "vs anchor"],
        rows,
        notes=(
            "Target: cairn at least 10x faster than copying through MLflow's client. Each "
            "time is a process's wall time: interpreter start and imports included (about "
            f"{statistics.median(anchor_fixed):.0f} s of MLflow's imports and set-up for the "
            "anchor; cairn's import pays MLflow's imports too). "
            + (
                f"The anchor copies the first {anchor_runs:,} runs of the same store each "
                f"round; its copying time is scaled by {args.runs / anchor_runs:g} (each run is "
                "copied alone, so per-run cost does not depend on the others; a fuller target "
                "store only makes MLflow's inserts slower), its fixed cost added once."
                if scaled
                else ""
            )
        ),
    )


def _row(label: str, samples: list[float], runs: int, anchor: float) -> list[str]:
    median = statistics.median(samples)
    return [
        label,
        f"{median:,.1f}",
        f"{max(samples) / min(samples):.2f}",
        f"{median / runs * 1e3:,.2f}",
        f"{median / anchor:.3f}x ({anchor / median:,.1f}x faster)" if median < anchor else "",
    ]


if __name__ == "__main__":
    main()
