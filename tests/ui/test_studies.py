"""The studies pages and API over a real socket: a study `cairn.tune` ran, its best-so-far
curve, its trials linked to their runs, a study that is running said to be live, versions,
and bad input answered with a 4xx."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.tuning.result import TuneResult
from tests.tuning.objectives import quadratic
from tests.ui.browsing import ui_server

SPACE = {"x": cairn.uniform(0, 1), "kind": cairn.choice(["a", "b"])}


def tune(name: str = "quad", trials: int = 5, resume: bool = True) -> TuneResult:
    return cairn.tune(quadratic, SPACE, "score", "max", n_trials=trials, executor="thread",
                      scheduler=None, name=name, seed=1, resume=resume)  # fmt: skip


def test_the_list_shows_each_study_with_its_trials_and_best_value(workspace: Path) -> None:
    result = tune()
    tune("other", trials=2)
    with ui_server() as url:
        listed = {s["name"]: s for s in httpx.get(f"{url}/api/studies").json()}
        html = httpx.get(f"{url}/studies").text
    assert set(listed) == {"quad", "other"}
    quad = listed["quad"]
    assert (quad["trials"], quad["metric"], quad["mode"], quad["version"]) == (5, "score", "max", 1)
    assert quad["best"] == result.best_value
    assert quad["states"] == {"completed": 5} and quad["live"] is False
    assert 'href="/studies/quad"' in html and 'href="/studies/other"' in html


def test_a_study_has_its_best_so_far_curve_params_and_trials_linked_to_runs(
    workspace: Path,
) -> None:
    result = tune()
    with ui_server() as url:
        data = httpx.get(f"{url}/api/studies/quad").json()
        html = httpx.get(f"{url}/studies/quad").text
    values = [r.value for r in result.records]
    assert data["best_so_far"] == {
        "number": [r.number for r in result.records],
        "value": values,
        "best": list(itertools.accumulate(values, max)),
    }
    assert data["best"]["value"] == result.best_value
    assert data["best"]["run_id"] == result.best_trial.run_id
    assert data["states"]["completed"] == 5 and data["states"]["running"] == 0
    assert data["live"] is False
    params = {p["name"]: p for p in data["params"]}
    assert params["x"]["numeric"] and not params["kind"]["numeric"]
    assert [t["run_id"] for t in data["trials"]] == [r.run_id for r in result.records]
    for record in result.records:
        assert f'href="/runs/{record.run_id}"' in html
    assert 'id="best-curve"' in html and 'id="param-scatter"' in html
    assert '<option value="x">' in html and 'data-live="false"' in html


def test_a_study_with_a_running_trial_is_live_until_it_ends(workspace: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def waiting(trial) -> float:
        started.set()
        if not release.wait(60):
            raise TimeoutError("the test never released the trial")
        return trial.params["x"]

    def search() -> None:
        cairn.tune(waiting, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=1,
                   executor="thread", scheduler=None, name="slow")  # fmt: skip

    tuner = threading.Thread(target=search)
    with ui_server() as url:
        tuner.start()
        try:
            assert started.wait(60)
            during = httpx.get(f"{url}/api/studies/slow").json()
            page = httpx.get(f"{url}/studies/slow").text
            listed = httpx.get(f"{url}/api/studies").json()
        finally:
            release.set()
            tuner.join(60)
        after = httpx.get(f"{url}/api/studies/slow").json()
    assert during["live"] is True and during["states"]["running"] == 1
    assert during["trials"][0]["state"] == "running" and during["best"] is None
    assert during["refresh_ms"] == 2000
    assert 'data-live="true"' in page and "/static/study.js" in page
    assert listed[0]["live"] is True
    assert after["live"] is False and after["states"]["completed"] == 1
    assert after["best"]["value"] == after["trials"][0]["value"]


def test_each_version_of_a_study_can_be_shown(workspace: Path) -> None:
    tune(trials=2)
    tune(trials=3, resume=False)
    with ui_server() as url:
        latest = httpx.get(f"{url}/api/studies/quad").json()
        first = httpx.get(f"{url}/api/studies/quad", params={"version": 1}).json()
        html = httpx.get(f"{url}/studies/quad", params={"version": 1}).text
    assert (latest["study"]["version"], len(latest["trials"])) == (2, 3)
    assert (first["study"]["version"], len(first["trials"])) == (1, 2)
    assert first["latest_version"] == latest["latest_version"] == 2
    assert 'href="/studies/quad?version=2"' in html


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/studies/nope", 404),
        ("/api/studies/quad?version=abc", 400),
        ("/api/studies/quad?version=0", 400),
        ("/api/studies/quad?version=7", 404),
    ],
)
def test_bad_input_is_a_4xx_with_json(workspace: Path, path: str, status: int) -> None:
    tune(trials=1)
    with ui_server() as url:
        answer = httpx.get(url + path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]


def test_an_unknown_study_page_is_a_404_page(workspace: Path) -> None:
    with ui_server() as url:
        answer = httpx.get(f"{url}/studies/nope")
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert "no study named &#39;nope&#39;" in answer.text
