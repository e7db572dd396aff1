"""One run's page and its API over a real socket: params, metrics and a chart per metric;
the metric series downsampled with spikes kept; artifacts downloaded as their bytes (a
file's content, a captured log's text, a value's stored blob); the traceback, output,
child runs and code of a run; a live run's state; unknown runs and bad queries a 4xx."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.store import get_store
from tests.conftest import git_repo
from tests.ui.browsing import log_runs, ui_server


@pytest.fixture
def http(workspace: Path) -> Iterator[httpx.Client]:
    """A client of the UI over the test's workspace (runs logged before a request show)."""
    with ui_server() as url, httpx.Client(base_url=url) as client:
        yield client


def test_the_runs_table_lists_runs_with_links_to_them(http: httpx.Client) -> None:
    ids = log_runs(2)
    response = http.get("/runs")
    assert response.status_code == 200
    for run_id in ids:
        assert f'<a href="/runs/{run_id}">' in response.text
    assert [r["id"] for r in http.get("/api/runs").json()["runs"]] == ids[::-1]


def test_the_run_page_shows_params_metrics_and_a_chart_per_metric(http: httpx.Client) -> None:
    first, second = log_runs(2)
    response = http.get(f"/runs/{second}")
    assert response.status_code == 200
    html = response.text
    assert "<tr><th>C</th><td>0.2</td></tr>" in html
    assert "<tr><th>kind</th><td>lr</td></tr>" in html
    # loss = exp(-step / 3) over steps 0..19: last exp(-19/3), min the same, max 1.
    assert f'<tr><td>loss</td><td class="num">{math.exp(-19 / 3):.6g}</td>' in html
    assert f'<div id="charts" class="charts" data-run="{second}" data-status="finished">' in html
    assert '<div class="chart" data-key="acc"></div>' in html
    assert '<div class="chart" data-key="loss"></div>' in html
    assert '<script src="/static/charts.js"></script>' in html
    assert http.get("/static/charts.js").status_code == 200
    assert first not in html


def test_the_run_api_has_params_metrics_and_their_ranges(http: httpx.Client) -> None:
    (run_id,) = log_runs(1, steps=10)
    found = http.get(f"/api/runs/{run_id}").json()
    assert found["id"] == run_id
    assert found["status"] == "finished"
    assert found["params"] == {"C": 0.1, "kind": "lr"}
    assert found["metrics"]["loss"] == {
        "last": math.exp(-9 / 2),
        "min": math.exp(-9 / 2),
        "max": 1.0,
    }
    assert found["metrics"]["acc"]["min"] == 0.0
    assert found["artifacts"] == [] and found["children"] == [] and found["output"] == {}
    assert found["environment"]["python"] == sys.version.split()[0]
    state = http.get(f"/api/runs/{run_id}/metrics").json()
    assert state["status"] == "finished" and state["metrics"] == found["metrics"]


def test_the_metric_api_downsamples_and_keeps_a_spike(http: httpx.Client) -> None:
    with cairn.start_run("long", experiment="digits") as run:
        for step in range(5_000):
            run.log({"val loss": 1e6 if step == 4_321 else 1.0 / (step + 1)}, step=step)

    small = http.get(f"/api/runs/{run.id}/metrics/val loss", params={"max_points": 100}).json()
    assert small["downsampled"] and small["count"] == 5_000
    assert (
        len(small["step"]) == len(small["value"]) == len(small["min"]) == len(small["max"]) == 100
    )
    assert small["step"][:3] == [0, 50, 100]
    assert small["max"][4_321 // 50] == 1e6
    assert small["min"][0] == 1.0 / 50 and small["max"][0] == 1.0

    default = http.get(f"/api/runs/{run.id}/metrics/val%20loss").json()
    assert default["downsampled"] and 1_000 < len(default["step"]) <= 2_000
    assert default["run"] == run.id and default["status"] == "finished"

    raw = http.get(f"/api/runs/{run.id}/metrics/val loss", params={"max_points": 5_000}).json()
    assert not raw["downsampled"] and raw["step"] == list(range(5_000))
    assert raw["value"][4_321] == 1e6

    missing = http.get(f"/api/runs/{run.id}/metrics/nothing").json()
    assert missing["step"] == [] and missing["count"] == 0


@pytest.mark.parametrize("max_points", ["abc", "1", "1000000", "-5"])
def test_a_bad_max_points_is_a_400(http: httpx.Client, max_points: str) -> None:
    (run_id,) = log_runs(1)
    response = http.get(f"/api/runs/{run_id}/metrics/loss", params={"max_points": max_points})
    assert response.status_code == 400
    assert "max_points" in response.json()["error"]


def test_artifacts_download_as_their_bytes(http: httpx.Client, workspace: Path) -> None:
    (workspace / "data").mkdir()
    (workspace / "data" / "train.csv").write_text("a,b\n1,2\n")
    (workspace / "data" / "test.csv").write_text("a,b\n3,4\n")
    (workspace / "notes.txt").write_bytes("héllo\n".encode())
    with cairn.start_run("make", experiment="digits") as run:
        weights = run.save("weights", {"w": [1.0, 2.0]})
        folder = cairn.datasets.add("splits", workspace / "data")
        single = cairn.datasets.add("notes", workspace / "notes.txt")
    store = get_store()

    found = {a["name"]: a for a in http.get(f"/api/runs/{run.id}").json()["artifacts"]}
    assert set(found) == {"weights", "splits", "notes"}
    assert found["weights"]["size"] == len(store.blobs.get(weights.digest))
    assert [f["path"] for f in found["splits"]["files"]] == ["test.csv", "train.csv"]

    value = http.get(found["weights"]["url"])
    assert value.status_code == 200
    assert value.content == bytes(store.blobs.get(weights.digest))
    codec = found["weights"]["codec"]
    assert value.headers["content-disposition"].startswith(
        f'attachment; filename="weights-v1.{codec}"'
    )

    one_file = http.get(f"/api/runs/{run.id}/artifacts/{single.id}")
    assert one_file.content == "héllo\n".encode()
    assert "filename*=UTF-8''notes.txt" in one_file.headers["content-disposition"]

    train = http.get(found["splits"]["files"][1]["url"])
    assert train.content == b"a,b\n1,2\n"
    assert 'filename="train.csv"' in train.headers["content-disposition"]
    assert http.get(f"/api/runs/{run.id}/artifacts/{folder.id}").status_code == 400
    missing = http.get(f"/api/runs/{run.id}/artifacts/{folder.id}", params={"path": "x.csv"})
    assert missing.status_code == 404

    page = http.get(f"/runs/{run.id}").text
    assert f'href="/api/runs/{run.id}/artifacts/{weights.id}" download' in page


def test_an_artifact_of_another_run_is_not_found(http: httpx.Client) -> None:
    with cairn.start_run("one", experiment="digits") as one:
        saved = one.save("weights", [1, 2, 3])
    with cairn.start_run("two", experiment="digits") as two:
        pass
    response = http.get(f"/api/runs/{two.id}/artifacts/{saved.id}")
    assert response.status_code == 404
    assert response.json()["type"] == "NotFoundError"
    assert http.get(f"/api/runs/{one.id}/artifacts/{saved.id + 1000}").status_code == 404
    assert http.get(f"/api/runs/{one.id}/artifacts/abc").status_code == 404


def test_a_runs_output_traceback_and_children_show(http: httpx.Client) -> None:
    with (
        pytest.raises(ValueError, match="diverged"),
        cairn.start_run("sweep", experiment="digits") as parent,
    ):
        parent.capture_output()
        print("epoch 1 <done>")
        print("warning: slow", file=sys.stderr)
        with cairn.start_run("trial-0") as child:
            pass
        raise ValueError("loss diverged")

    found = http.get(f"/api/runs/{parent.id}").json()
    assert found["status"] == "failed"
    assert "ValueError: loss diverged" in found["error"]
    assert found["output"]["stdout"]["text"] == "epoch 1 <done>\n"
    assert found["output"]["stderr"]["text"] == "warning: slow\n"
    assert [c["id"] for c in found["children"]] == [child.id]
    log = http.get(found["output"]["stdout"]["url"])
    assert log.text == "epoch 1 <done>\n"
    assert log.headers["content-type"].startswith("text/plain")

    html = http.get(f"/runs/{parent.id}").text
    assert '<pre class="traceback error">' in html and "ValueError: loss diverged" in html
    assert '<pre id="stdout">epoch 1 &lt;done&gt;\n</pre>' in html
    assert '<pre id="stderr">warning: slow\n</pre>' in html
    assert f'<a href="/runs/{child.id}">trial-0</a>' in html
    assert f'child of <a href="/runs/{parent.id}">' in http.get(f"/runs/{child.id}").text


def test_the_code_of_a_dirty_checkout_shows_its_diff(workspace: Path) -> None:
    repo = git_repo(workspace / "repo", {"train.py": "print('v1')\n"})
    (repo / "train.py").write_text("print('v2 <new>')\n")
    script = "import cairn\nwith cairn.start_run('t', experiment='digits') as run: print(run.id)"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True
    )
    run_id = done.stdout.strip()
    with ui_server() as url, httpx.Client(base_url=url) as http:
        code = http.get(f"/api/runs/{run_id}").json()["code"]
        html = http.get(f"/runs/{run_id}").text
    assert code["dirty"] and code["branch"] == "main" and len(code["commit"]) == 40
    assert f'<td class="id">{code["commit"]}</td>' in html
    assert "+print(&#39;v2 &lt;new&gt;&#39;)" in html
    assert '<pre id="diff">' in html


def test_a_running_run_reads_as_running_until_it_ends(http: httpx.Client) -> None:
    run = cairn.start_run("live", experiment="digits")
    try:
        run.log({"loss": 1.0}, step=0)
        run.flush()
        html = http.get(f"/runs/{run.id}").text
        assert f'data-run="{run.id}" data-status="running"' in html
        assert http.get(f"/api/runs/{run.id}/metrics").json()["status"] == "running"
        run.log({"loss": 0.5, "acc": 0.7}, step=1)
        run.flush()
        state = http.get(f"/api/runs/{run.id}/metrics").json()
        assert set(state["metrics"]) == {"loss", "acc"}
        assert http.get(f"/api/runs/{run.id}/metrics/loss").json()["value"] == [1.0, 0.5]
    finally:
        run.end()
    assert http.get(f"/api/runs/{run.id}/metrics/loss").json()["status"] == "finished"


def test_an_unknown_run_is_a_404(http: httpx.Client) -> None:
    log_runs(1)
    for path in ("/api/runs/NOSUCHRUN", "/api/runs/NOSUCHRUN/metrics/loss",
                 "/api/runs/NOSUCHRUN/metrics", "/api/runs/NOSUCHRUN/artifacts/1"):  # fmt: skip
        response = http.get(path)
        assert response.status_code == 404, path
        assert "NOSUCHRUN" in response.json()["error"]
    page = http.get("/runs/NOSUCHRUN")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "NOSUCHRUN" in page.text
