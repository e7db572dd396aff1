"""Save/load four arrays through cairn's codec path and the usual alternatives, side by side.

The cairn path is the real one: `codecs.encode`, then `LocalBlobStore.put` (BLAKE3 of the
payload while it is written to a temp file, rename to the digest name); on load
`LocalBlobStore.get` (a private copy-on-write mmap, its BLAKE3 digest verified) and
`codecs.decode`. Every repeat does all of it again (no caching across repeats);
files are read back from the page cache, as for every other method. Best of N repeats.

    python benchmarks/bench_arrays.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from cairn.codecs import decode, encode
from cairn.store.blobs import LocalBlobStore

RESULTS = Path(__file__).parent / "results" / "arrays.md"


def make_arrays(nbytes: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    n64 = nbytes // 8
    t = np.linspace(0, 200 * np.pi, n64)
    return {
        "random float64": rng.random(n64),
        "random-walk float32": np.cumsum(rng.standard_normal(nbytes // 4, dtype=np.float32)),
        "int64 ids [0,1000)": rng.integers(0, 1000, n64, dtype=np.int64),
        "noisy sine, 2 decimals": np.round(np.sin(t) + rng.normal(0, 0.01, n64), 2),
    }


# --- cairn: the real codecs and the real local blob store ---------------------------------


def cairn_save(root: Path, arr: np.ndarray) -> tuple[LocalBlobStore, str, str, dict]:
    # A new folder per save, so no repeat finds its blob already there (deduplication
    # would skip the write) and none pays for unlinking the previous repeat's file.
    blobs = LocalBlobStore(str(root / f"cairn-{time.perf_counter_ns()}"))
    enc = encode(arr)
    digest = blobs.put(enc.data)
    return blobs, digest, enc.codec, json.loads(json.dumps(enc.meta))


def cairn_load(ref: tuple[LocalBlobStore, str, str, dict]) -> np.ndarray:
    blobs, digest, codec, meta = ref
    return decode(codec, blobs.get(digest), meta)


# --- the alternatives -------------------------------------------------------------------------


def methods(root: Path) -> dict[str, tuple[Callable[[np.ndarray], Any], Callable[[Any], Any]]]:
    import joblib

    def np_save(a: np.ndarray) -> Path:
        p = root / "a.npy"
        np.save(p, a)
        return p

    def pkl_save(a: np.ndarray) -> Path:
        p = root / "a.pkl"
        with open(p, "wb") as f:
            pickle.dump(a, f, protocol=5)
        return p

    def pkl_load(p: Path) -> np.ndarray:
        with open(p, "rb") as f:
            return pickle.load(f)

    def jl_save(compress: tuple[str, int], ext: str) -> Callable[[np.ndarray], Path]:
        def save(a: np.ndarray) -> Path:
            p = root / f"a.{ext}"
            joblib.dump(a, p, compress=compress)
            return p

        return save

    def npz_save(a: np.ndarray) -> Path:
        p = root / "a.npz"
        np.savez_compressed(p, a=a)
        return p

    def npz_load(p: Path) -> np.ndarray:
        with np.load(p) as z:
            return z["a"]

    return {
        "cairn": (lambda a: cairn_save(root, a), cairn_load),
        "np.save": (np_save, np.load),
        "pickle-5": (pkl_save, pkl_load),
        "joblib-zlib3": (jl_save(("zlib", 3), "jz"), joblib.load),
        "joblib-lz4": (jl_save(("lz4", 3), "jl4"), joblib.load),
        "savez_compressed": (npz_save, npz_load),
    }


def _size(ref: Any) -> int:
    if isinstance(ref, tuple):
        blobs, digest = ref[0], ref[1]
        return os.path.getsize(blobs.path(digest))
    return os.path.getsize(ref)


def run(nbytes: int, repeats: int, slow_repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        arrays = make_arrays(nbytes)
        for aname, arr in arrays.items():
            for mname, (save, load) in methods(root).items():
                n = slow_repeats if mname in ("joblib-zlib3", "savez_compressed") else repeats
                save_t, load_t = [], []
                for _ in range(n):
                    t0 = time.perf_counter()
                    ref = save(arr)
                    save_t.append(time.perf_counter() - t0)
                for _ in range(n):
                    t0 = time.perf_counter()
                    out = load(ref)
                    load_t.append(time.perf_counter() - t0)
                    # Outside the timing: the result must be equal, of the same dtype, writable.
                    assert out.dtype == arr.dtype and out.shape == arr.shape
                    assert np.array_equal(out, arr), (aname, mname)
                    assert out.flags.writeable, (aname, mname)
                    del out
                extra = ""
                if mname == "cairn":
                    meta = ref[3]
                    extra = meta["layout"] + (
                        f" {meta['compressor']}+{meta['filter']}" if meta["layout"] != "raw" else ""
                    )
                rows.append(
                    {
                        "array": aname,
                        "method": mname,
                        "save": min(save_t),
                        "load": min(load_t),
                        "size": _size(ref),
                        "detail": extra,
                    }
                )
                shutil.rmtree(root)
                root.mkdir()
                print(f"  {aname:24} {mname:17} done", file=sys.stderr, flush=True)
    return rows


def render(rows: list[dict], nbytes: int, repeats: int) -> tuple[Table, str]:
    table = Table(title=f"arrays of {nbytes / 1e6:.0f} MB, best of {repeats}, page cache")
    cols = ["array", "method", "save s", "load s", "size MB", "save vs np.save",
            "load speed-up vs np.load", "size vs joblib-lz4", "cairn layout"]  # fmt: skip
    for c in cols:
        table.add_column(c, justify="left" if c in ("array", "method", "cairn layout") else "right")
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    by = {(r["array"], r["method"]): r for r in rows}
    for r in rows:
        ref_np = by[(r["array"], "np.save")]
        ref_jl = by[(r["array"], "joblib-lz4")]
        cells = [
            r["array"],
            r["method"],
            f"{r['save']:.3f}",
            f"{r['load']:.3f}",
            f"{r['size'] / 1e6:.1f}",
            f"{r['save'] / ref_np['save']:.2f}x",
            f"{ref_np['load'] / r['load']:.2f}x",
            f"{r['size'] / ref_jl['size']:.2f}x",
            r["detail"],
        ]
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return table, "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 MB arrays, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    nbytes = 20_000_000 if args.quick else 200_000_000
    repeats = args.repeats or (3 if args.quick else 7)
    slow = 1 if args.quick else 2
    rows = run(nbytes, repeats, slow)
    table, md = render(rows, nbytes, repeats)
    Console(width=200).print(table)
    header = (
        f"# Array save/load, {nbytes / 1e6:.0f} MB per array\n\n"
        f"Best of {repeats} repeats ({slow} for joblib-zlib3 and savez_compressed); files in the"
        " page cache. cairn = encode + BLAKE3 + one write + rename; load = private mmap +"
        " BLAKE3 verify + decode. Ratios: save time / np.save's, np.load time / load time,"
        " size / joblib-lz4's.\n"
        f"Machine: {os.cpu_count()} cores. Command: `python benchmarks/bench_arrays.py"
        f"{' --quick' if args.quick else ''}`\n\n"
    )
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(header + md + "\n")


if __name__ == "__main__":
    main()
