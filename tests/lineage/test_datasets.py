"""Versioned datasets: values and file sets, by version or by time; on every backend."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn


def test_new_version_only_when_content_changes(backend: str) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    v1 = cairn.datasets.save("table", frame, description="first cut")
    assert cairn.datasets.save("table", frame.copy()).version == v1.version == 1
    v2 = cairn.datasets.save("table", frame.assign(c=[0.5, 1.5, 2.5]).iloc[:2])
    assert v2.version == 2
    pd.testing.assert_frame_equal(cairn.datasets.load("table", version=1), frame)
    assert cairn.datasets.load("table").shape == (2, 3)
    assert [v.version for v in cairn.datasets.history("table")] == [1, 2]
    assert cairn.datasets.history("table")[0].meta["description"] == "first cut"
    change = cairn.datasets.diff("table", 1, 2)
    assert change["rows"] == [3, 2] and change["added_columns"] == {"c": "float64"}


def test_array_diff_and_as_of(backend: str) -> None:
    cairn.datasets.save("arr", np.zeros((2, 3)))
    between = time.time()
    cairn.datasets.save("arr", np.ones((4, 3), dtype=np.float32))
    change = cairn.datasets.diff("arr", 1, 2)["changed"]
    assert change["shape"] == [[2, 3], [4, 3]] and change["dtype"] == ["float64", "float32"]
    assert cairn.datasets.load("arr", as_of=between).shape == (2, 3)
    assert cairn.datasets.load("arr", as_of=dt.datetime.fromtimestamp(between)).shape == (2, 3)


def test_load_in_a_run_is_lineage(backend: str) -> None:
    ref = cairn.datasets.save("inputs", [1, 2, 3])
    with cairn.start_run("train") as run:
        assert cairn.datasets.load("inputs") == [1, 2, 3]
    assert (f"run:{run.id}", ref.node, "used") in cairn.lineage(ref, direction="down").edges


def test_files_and_folders(backend: str, tmp_path: Path) -> None:
    data = tmp_path / "data" / "input"
    (data / "images").mkdir(parents=True)
    (data / "labels.csv").write_text("id,label\n1,cat\n")
    (data / "images" / "a.bin").write_bytes(bytes(range(256)) * 100)
    v1 = cairn.datasets.add("raw", data, description="first drop")
    assert v1.meta["summary"]["files"] == 2
    assert cairn.datasets.add("raw", data).version == 1  # unchanged: same version
    (data / "labels.csv").write_text("id,label\n1,cat\n2,dog\n")
    (data / "extra.txt").write_text("new")
    assert cairn.datasets.add("raw", data).version == 2
    change = cairn.datasets.diff("raw", 1, 2)
    assert change["added"] == ["extra.txt"] and change["changed"] == ["labels.csv"]
    assert change["removed"] == []
    restored = cairn.datasets.load("raw", version=1).checkout(tmp_path / "restored")
    assert (restored / "labels.csv").read_text() == "id,label\n1,cat\n"
    assert (restored / "images" / "a.bin").read_bytes() == bytes(range(256)) * 100
    from cairn.store.gc import collect

    assert collect(cairn.get_store(), dry_run=True).unreferenced == []  # files kept by manifests


def test_bad_requests_are_clear_and_write_nothing(backend: str) -> None:
    cairn.datasets.save("known", [1])
    with pytest.raises(cairn.NotFoundError, match="cairn datasets ls"):
        cairn.datasets.load("unknown")
    with pytest.raises(cairn.NotFoundError, match=r"has no version 5; it has \[1\]"):
        cairn.datasets.load("known", version=5)
    with pytest.raises(cairn.CairnError, match="before this store existed"):
        cairn.datasets.load("known", as_of=dt.datetime(2001, 1, 1))
    with pytest.raises(cairn.NotFoundError, match="does not exist"):
        cairn.datasets.add("files", "/no/such/folder")
    with pytest.raises(cairn.InvalidNameError):
        cairn.datasets.save("a/b", [1])
    assert [d.name for d in cairn.datasets.list_datasets()] == ["known"]


def test_checkout_writes_readable_files_and_no_leftovers(workspace: Path) -> None:
    data = workspace / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.txt").write_text("a")
    cairn.datasets.add("files", data)
    dest = cairn.datasets.load("files").checkout(workspace / "out")
    written = dest / "sub" / "a.txt"
    assert written.read_text() == "a"
    assert written.stat().st_mode & 0o777 == 0o644  # not a temporary file's 0o600
    assert sorted(p.name for p in dest.rglob("*")) == ["a.txt", "sub"]


def test_bad_moments_and_versions_are_value_errors(backend: str) -> None:
    cairn.datasets.save("known", [1])
    with pytest.raises(ValueError, match="not an ISO date"):
        cairn.datasets.load("known", as_of="last tuesday")
    with pytest.raises(ValueError, match="before this store existed"):
        cairn.datasets.load("known", as_of=0.0)
    with pytest.raises(ValueError, match="not both"):
        cairn.datasets.get("known", 1, as_of=time.time())
    with pytest.raises(ValueError, match="must be a number"):
        cairn.datasets.get("known", "one")


def test_unchanged_folder_keeps_its_version_as_a_json_manifest(workspace: Path) -> None:
    import json

    import sqlalchemy as sa

    from cairn.store import get_store, schema

    (workspace / "d").mkdir()
    (workspace / "d" / "x.txt").write_text("x")
    ref = cairn.datasets.add("d", workspace / "d")
    with get_store().reader() as conn:
        codec = conn.execute(
            sa.select(schema.blobs.c.codec).where(schema.blobs.c.digest == ref.digest)
        ).scalar_one()
    assert codec == "json"
    stored = json.loads(bytes(get_store().blobs.get(ref.digest)))
    assert stored == {"kind": "fileset", "files": {"x.txt": [stored["files"]["x.txt"][0], 1]}}
