"""Save/load a 10-column data frame through cairn's frame codec, Parquet and pickle.

cairn's path is the blob-store model of bench_arrays.py (encode + BLAKE3 + one write + rename;
private mmap + BLAKE3 verify + decode). Best of N repeats, page cache.

    python benchmarks/bench_frames.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_arrays import _size, cairn_load, cairn_save  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "frames.md"


def make_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    words = np.array([f"user_{i:05d}" for i in range(5000)], dtype=object)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "count": rng.integers(0, 100, n, dtype=np.int32),
            "price": np.round(rng.random(n) * 100, 2),
            "score": rng.standard_normal(n).astype(np.float32),
            "user": pd.array(words[rng.integers(0, len(words), n)], dtype="str"),
            "city": pd.Categorical.from_codes(
                rng.integers(0, 50, n), [f"city {i}" for i in range(50)]
            ),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**9, n), "s"),
            "flag": rng.random(n) < 0.3,
            "ratio": np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
            "bucket": pd.Categorical.from_codes(rng.integers(0, 4, n), ["a", "b", "c", "d"]),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 million rows")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    n = 1_000_000 if args.quick else 10_000_000
    repeats = args.repeats or 3
    df = make_frame(n)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)

        def pq_save(d: pd.DataFrame) -> Path:
            d.to_parquet(root / "f.parquet")
            return root / "f.parquet"

        def pkl_save(d: pd.DataFrame) -> Path:
            with open(root / "f.pkl", "wb") as f:
                pickle.dump(d, f, protocol=5)
            return root / "f.pkl"

        def pkl_load(p: Path) -> pd.DataFrame:
            with open(p, "rb") as f:
                return pickle.load(f)

        methods = {
            "cairn frame.arrow": (lambda d: cairn_save(root, d), cairn_load),
            "to_parquet/read_parquet": (pq_save, pd.read_parquet),
            "pickle-5": (pkl_save, pkl_load),
        }
        for name, (save, load) in methods.items():
            st, lt = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                ref = save(df)
                st.append(time.perf_counter() - t0)
            for _ in range(repeats):
                t0 = time.perf_counter()
                out = load(ref)
                lt.append(time.perf_counter() - t0)
                pd.testing.assert_frame_equal(out, df, check_exact=True)  # outside the timing
                del out
            rows.append((name, min(st), min(lt), _size(ref)))
            print(f"  {name} done", file=sys.stderr, flush=True)
    mem = df.memory_usage(deep=True).sum()
    cols = ["method", "save s", "load s", "size MB"]
    table = Table(
        title=f"{n:,} rows x 10 columns ({mem / 1e6:.0f} MB in memory), best of {repeats}"
    )
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for c in cols:
        table.add_column(c, justify="left" if c == "method" else "right")
    for name, s, ld, size in rows:
        cells = [name, f"{s:.3f}", f"{ld:.3f}", f"{size / 1e6:.1f}"]
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    Console(width=200).print(table)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            f"# Data frame save/load, {n:,} rows x 10 columns\n\n"
            "int64, int32, float64 (2 decimals), float32, str (5000 distinct), categorical (50),"
            " datetime64, bool, float64 with 5 % NaN, categorical (4). Best of"
            f" {repeats}; page cache. cairn = Arrow IPC (lz4) + BLAKE3 + write + rename; load ="
            " private mmap + BLAKE3 verify + decode to pandas.\n"
            "Command: `python benchmarks/bench_frames.py`\n\n" + "\n".join(md) + "\n"
        )


if __name__ == "__main__":
    main()
