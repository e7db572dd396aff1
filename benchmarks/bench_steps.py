"""Re-running a cached pipeline over 1 GB of intermediates: cairn steps against joblib.Memory.

Two steps: `generate` makes a 512 MB array, `normalize` turns it into another 512 MB array,
`summarize` reduces it. Measured: the first run (compute and store everything), a re-run
in the same process (every step cached), and a re-run in a fresh process.
Run: python benchmarks/bench_steps.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import report

PIPELINE = """
import os, sys, time
import numpy as np

N = int(os.environ["BENCH_N"])
tool = os.environ["BENCH_TOOL"]
if tool == "cairn":
    import cairn
    cache = cairn.step
else:
    import joblib
    cache = joblib.Memory(os.environ["BENCH_DIR"], verbose=0).cache

@cache
def generate(n):
    return np.random.default_rng(0).random(n)

@cache
def normalize(x):
    return (x - x.mean()) / x.std()

@cache
def summarize(z):
    return float(np.abs(z).max())

def pipeline():
    return summarize(normalize(generate(N)))

for label in sys.argv[1:]:
    started = time.perf_counter()
    pipeline()
    print(label, time.perf_counter() - started, flush=True)
"""


def run(tool: str, n: int, folder: Path, *labels: str) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_N": str(n),
        "BENCH_TOOL": tool,
        "BENCH_DIR": str(folder / tool),
        "CAIRN_STORE": f"sqlite:///{folder / 'cairn.db'}",
        "CAIRN_BLOBS": str(folder / "blobs"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PIPELINE, *labels],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 MB instead of 1 GB")
    args = parser.parse_args()
    n = (50 if args.quick else 512) * 1024 * 1024 // 8
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in ("cairn", "joblib.Memory"):
            timings = run(tool, n, Path(tmp), "first", "rerun-same-process")
            timings.update(run(tool, n, Path(tmp), "rerun-fresh-process"))
            results[tool] = timings
    for phase in ("first", "rerun-same-process", "rerun-fresh-process"):
        anchor = results["joblib.Memory"][phase]
        for tool, timings in results.items():
            rows.append([phase, tool, f"{timings[phase]:.3f}", f"{anchor / timings[phase]:.1f}x"])
    report(
        "steps",
        f"Cached pipeline over {2 * n * 8 / 2**30:.2f} GiB of intermediates",
        ["phase", "tool", "seconds", "joblib.Memory / tool"],
        rows,
        "Target: re-running a cached pipeline over 1 GB of intermediates well under a second.",
    )


if __name__ == "__main__":
    main()
