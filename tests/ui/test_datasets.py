"""The datasets pages and their API over a real socket: every dataset with its version
count and latest version, one dataset's versions with what they hold, the diff of two
versions of a frame, an array and a folder; unknown names and bad versions refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import cairn
from tests.ui.browsing import ui_server


@dataclass
class Datasets:
    http: httpx.Client  # one client: a new one per request costs a TLS context each
    table: list[cairn.ArtifactRef]
    raw: list[cairn.ArtifactRef]
    run_id: str


@pytest.fixture
def saved(workspace: Path) -> Iterator[Datasets]:
    """table v1 (3 rows, a and b) and v2 (2 rows, c added, b now float, saved by a run);
    arr v1 and v2; raw v1 and v2 (a file changed, one added)."""
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    table = [cairn.datasets.save("table", frame, description="first cut")]
    with cairn.start_run("prepare", experiment="data") as run:
        changed = frame.assign(b=[0.5, 1.5, 2.5], c=[1, 2, 3]).iloc[:2]
        table.append(cairn.datasets.save("table", changed))
    cairn.datasets.save("arr", np.zeros((2, 3)))
    cairn.datasets.save("arr", np.ones((4, 3), dtype=np.float32))
    folder = workspace / "raw"
    folder.mkdir()
    (folder / "labels.csv").write_text("id,label\n1,cat\n")
    (folder / "old.txt").write_text("old")
    raw = [cairn.datasets.add("raw", folder, description="first drop")]
    (folder / "labels.csv").write_text("id,label\n1,cat\n2,dog\n")
    (folder / "extra.txt").write_text("new")
    raw.append(cairn.datasets.add("raw", folder))
    with ui_server() as url, httpx.Client(base_url=url) as http:
        yield Datasets(http, table, raw, run.id)


def get(s: Datasets, path: str, **query: object) -> httpx.Response:
    return s.http.get(path, params=query)


def test_every_dataset_with_its_version_count_and_latest_version(saved: Datasets) -> None:
    listed = get(saved, "/api/datasets").json()["datasets"]
    assert [d["name"] for d in listed] == ["arr", "raw", "table"]
    table = listed[2]
    assert (table["versions"], table["latest"]["version"]) == (2, 2)
    assert table["updated"] == pytest.approx(saved.table[1].created)
    assert table["latest"]["brief"] == "2 rows × 3 columns"
    assert listed[0]["latest"]["brief"] == "4×3 float32"
    assert listed[1]["latest"]["kind"] == "fileset"
    assert listed[1]["latest"]["brief"].startswith("3 file(s), ")
    html = get(saved, "/datasets").text
    for name in ("arr", "raw", "table"):
        assert f'href="/datasets/{name}"' in html
    assert "first drop" not in html  # the latest raw version has no description
    assert "2 rows × 3 columns" in html


def test_a_datasets_versions_say_what_they_hold_and_who_made_them(saved: Datasets) -> None:
    body = get(saved, "/api/datasets/table").json()
    v1, v2 = body["versions"]
    assert (v1["version"], v1["description"], v1["run_id"]) == (1, "first cut", None)
    assert v1["summary"] == {"type": "frame", "rows": 3, "columns": {"a": "int64", "b": "int64"}}
    assert v2["run_id"] == saved.run_id and v2["summary"]["rows"] == 2
    assert v2["lineage"] == f"/lineage/artifact:{saved.table[1].id}"
    html = get(saved, "/datasets/table").text
    assert 'id="v1"' in html and 'id="v2"' in html and "first cut" in html
    assert f'href="/runs/{saved.run_id}"' in html
    assert f'href="/lineage/artifact:{saved.table[1].id}"' in html
    assert 'href="/datasets/table?a=1&amp;b=2"' in html  # diff with the previous version
    assert "dataset-diff" not in html  # no diff until one is asked for
    raw = get(saved, "/api/datasets/raw").json()["versions"]
    assert raw[0]["summary"]["files"] == 2 and raw[0]["summary"]["source"].endswith("raw")


def test_the_diff_of_two_frames_arrays_and_folders(saved: Datasets) -> None:
    table = get(saved, "/api/datasets/table/diff", a=1, b=2).json()
    assert table["versions"] == [1, 2] and not table["same_content"]
    assert table["rows"] == [3, 2] and table["added_columns"] == {"c": "int64"}
    assert table["changed_types"] == {"b": ["int64", "float64"]}
    assert table["removed_columns"] == {}
    assert get(saved, "/api/datasets/table/diff", diff="2..latest").json()["same_content"]
    arr = get(saved, "/api/datasets/arr/diff", diff="1..2").json()["changed"]
    assert arr["shape"] == [[2, 3], [4, 3]] and arr["dtype"] == ["float64", "float32"]
    raw = get(saved, "/api/datasets/raw/diff", a=1, b=2).json()
    assert (raw["added"], raw["removed"], raw["changed"]) == (["extra.txt"], [], ["labels.csv"])
    page = get(saved, "/datasets/table", diff="1..2").text
    section = page[page.index('id="dataset-diff"') :]
    assert "v1 → v2" in section and "rows: 3 → 2" in section
    assert "column added: c" in section and "column b: int64 → float64" in section
    files = get(saved, "/datasets/raw", a="1", b="2").text
    section = files[files.index('id="dataset-diff"') :]
    assert "file added: extra.txt" in section and "file changed: labels.csv" in section
    assert "file removed" not in section


BAD = [
    ("/datasets/nosuch", {}, 404),
    ("/datasets/table", {"a": "1", "b": "9"}, 404),
    ("/datasets/nosuch/diff", {"a": "1", "b": "2"}, 404),
    ("/datasets/table", {"a": "one", "b": "2"}, 400),
    ("/datasets/table", {"a": "0", "b": "2"}, 400),
    ("/datasets/table", {"a": "1"}, 400),
    ("/datasets/table", {"diff": "1-2"}, 400),
    ("/datasets/table", {"diff": "1..x"}, 400),
    ("/datasets/table/diff", {}, 400),
]


def test_unknown_datasets_and_bad_versions_are_refused(saved: Datasets) -> None:
    for path, query, status in BAD:
        response = get(saved, "/api" + path, **query)
        assert response.status_code == status, (path, query, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]
        if path.endswith("/diff"):
            continue  # the diff has an API route only; the page shows it under ?a=&b=
        page = get(saved, path, **query)
        assert page.status_code == status, (path, query)
        assert page.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in page.text
