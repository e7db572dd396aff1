"""Lineage queries on a large history: 100,000 runs and 1,000,000 edges.

The history is 1,000 projects of 100 runs each; every run reads 5 artifacts made by the
10 runs before it in its project and makes 5 of its own (500,000 artifacts). Asked: where
the last artifact of a project came from (upstream, all the way) and what was made from a
project's first artifact (downstream). cairn answers with one recursive query; the anchor
is what a hand-written script does: a breadth-first walk with one query per node.
Run: python benchmarks/bench_lineage.py [--quick] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _report import report
from bench_metrics import scratch_database

from cairn.lineage import lineage
from cairn.store import Store, schema

RUNS_PER_PROJECT, OUTPUTS, INPUTS, WINDOW = 100, 5, 5, 10


def build(store: Store, projects: int) -> int:
    """Fill the store; returns the number of edges."""
    rng = random.Random(0)
    digest = "0" * 64
    edges = 0
    with store.writer() as conn:
        conn.execute(schema.experiments.insert().values(id=1, name="bench", created=0.0))
        conn.execute(
            schema.blobs.insert().values(
                digest=digest, size=0, codec="json", meta="{}", created=0.0
            )
        )
    artifact_id = 0
    for project in range(projects):
        runs, artifacts, links = [], [], []
        made: list[list[int]] = []
        for i in range(RUNS_PER_PROJECT):
            run_id = f"{project:08d}{i:018d}"
            runs.append(
                {
                    "id": run_id,
                    "experiment_id": 1,
                    "name": f"p{project}",
                    "status": "finished",
                    "started": float(i),
                }
            )
            outputs = []
            for _ in range(OUTPUTS):
                artifact_id += 1
                outputs.append(artifact_id)
                artifacts.append(
                    {
                        "id": artifact_id,
                        "run_id": run_id,
                        "name": f"a{artifact_id}",
                        "version": 1,
                        "digest": digest,
                        "kind": "artifact",
                        "created": float(i),
                    }
                )
                links.append(
                    {
                        "src": f"artifact:{artifact_id}",
                        "dst": f"run:{run_id}",
                        "relation": "wasGeneratedBy",
                        "created": float(i),
                    }
                )
            earlier = [a for outs in made[-WINDOW:] for a in outs]
            for used in rng.sample(earlier, min(INPUTS, len(earlier))):
                links.append(
                    {
                        "src": f"run:{run_id}",
                        "dst": f"artifact:{used}",
                        "relation": "used",
                        "created": float(i),
                    }
                )
            made.append(outputs)
        with store.writer() as conn:
            conn.execute(schema.runs.insert(), runs)
            conn.execute(schema.artifacts.insert(), artifacts)
            conn.execute(schema.lineage_edges.insert(), links)
        edges += len(links)
    # Fresh bulk-loaded tables have no planner statistics until autovacuum's ANALYZE runs;
    # without them PostgreSQL hash-joins all 1M edges on every step of the walk (seconds).
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return edges


def naive_upstream(store: Store, start: str) -> set[str]:
    """Breadth-first, one query per node: the script people write without a graph query."""
    edges = schema.lineage_edges
    seen, frontier = {start}, [start]
    with store.reader() as conn:
        while frontier:
            node = frontier.pop()
            for (dst,) in conn.execute(sa.select(edges.c.dst).where(edges.c.src == node)):
                if dst not in seen:
                    seen.add(dst)
                    frontier.append(dst)
    return seen


def measure(store: Store, projects: int, samples: int) -> dict[str, tuple[float, int]]:
    rng = random.Random(1)
    chosen = rng.sample(range(projects), min(samples, projects))
    last = [(p + 1) * RUNS_PER_PROJECT * OUTPUTS for p in chosen]
    first = [p * RUNS_PER_PROJECT * OUTPUTS + 1 for p in chosen]
    results = {}
    for label, fn, ids in [
        (
            "cairn.lineage upstream (recursive CTE)",
            lambda a: lineage(f"artifact:{a}", store=store),
            last,
        ),
        (
            "cairn.lineage downstream (recursive CTE)",
            lambda a: lineage(f"artifact:{a}", "down", store=store),
            first,
        ),
        (
            "hand-written BFS upstream (query per node)",
            lambda a: naive_upstream(store, f"artifact:{a}"),
            last,
        ),
    ]:
        times, sizes = [], []
        for a in ids:
            started = time.perf_counter()
            answer = fn(a)
            times.append(time.perf_counter() - started)
            sizes.append(len(answer.nodes) if hasattr(answer, "nodes") else len(answer))
        results[label] = (statistics.median(times), int(statistics.median(sizes)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 runs instead of 100,000")
    parser.add_argument(
        "--postgres",
        help="also on PostgreSQL (an admin URL; a scratch database is made and dropped)",
    )
    args = parser.parse_args()
    projects = 100 if args.quick else 1000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{Path(tmp) / 'lineage.db'}")]
        for name, url in backends + ([("PostgreSQL", None)] if args.postgres else []):
            if url is None:
                with scratch_database(args.postgres) as pg_url:
                    rows += run_one(name, pg_url, tmp, projects)
            else:
                rows += run_one(name, url, tmp, projects)
    report(
        "lineage",
        f"Lineage queries, {projects * RUNS_PER_PROJECT:,} runs",
        ["backend", "query", "median ms", "nodes in answer", "vs hand-written BFS"],
        rows,
        "Target: upstream of an artifact with 100,000 runs and 1,000,000 edges well under "
        "a second.",
    )


def run_one(name: str, url: str, tmp: str, projects: int) -> list[list[str]]:
    store = Store(url, str(Path(tmp) / "blobs"))
    started = time.perf_counter()
    edges = build(store, projects)
    print(
        f"{name}: built {projects * RUNS_PER_PROJECT:,} runs, {edges:,} edges in "
        f"{time.perf_counter() - started:.0f} s"
    )
    results = measure(store, projects, samples=20)
    store.engine.dispose()
    naive = results["hand-written BFS upstream (query per node)"][0]
    return [
        [name, label, f"{t * 1000:.1f}", f"{n:,}", f"{naive / t:.1f}x"]
        for label, (t, n) in results.items()
    ]


if __name__ == "__main__":
    main()
