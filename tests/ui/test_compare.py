"""The compare page and its API over a real socket: params side by side with the differing
ones marked, a metric's values at a step, curves overlaid on shared steps, a param against a
metric for a whole experiment, and every bad selection refused with a 4xx."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

import cairn
from tests.ui.browsing import log_runs, ui_server


@pytest.fixture
def http(backend: str) -> Iterator[httpx.Client]:
    """A client of the UI over a fresh workspace, once per backend: the comparison's reads
    are SQL of their own, run on SQLite and PostgreSQL alike."""
    with ui_server() as url, httpx.Client(base_url=url) as client:
        yield client


def logged(name: str, params: dict, values: dict[int, float], experiment: str = "cmp") -> str:
    """A finished run with `params` that logged `values` ({step: value}) of `loss`."""
    with cairn.start_run(name, experiment=experiment, params=params) as run:
        for step, value in values.items():
            run.log({"loss": value}, step=step)
    return run.id


def test_differing_params_are_marked(http: httpx.Client) -> None:
    a = logged("a", {"C": 0.1, "kind": "lr", "seed": 1, "layers": [64, 32]}, {0: 1.0})
    b = logged("b", {"C": 0.2, "kind": "lr", "layers": [64, 32]}, {0: 2.0})

    found = http.get("/api/compare", params={"runs": f"{a},{b}"}).json()
    assert [r["id"] for r in found["runs"]] == [a, b]
    assert found["params"] == ["C", "kind", "layers", "seed"]
    assert found["differing"] == ["C", "seed"]  # seed: only one run has it
    assert found["metrics"] == ["loss"]
    assert found["runs"][1]["params"] == {"C": 0.2, "kind": "lr", "layers": [64, 32]}

    # The runs table submits its checkboxes as runs=A&runs=B; short ids work as in the CLI.
    page = http.get(f"/compare?runs={a}&runs={b[-8:]}")
    assert page.status_code == 200
    html = page.text
    assert '<tr class="diff" data-param="C"><th>C</th>' in html
    assert '<tr class="diff" data-param="seed"><th>seed</th>' in html
    assert '<tr data-param="kind"><th>kind</th>' in html
    assert '<tr data-param="layers"><th>layers</th>' in html
    assert "2 of 4 params differ" in html
    assert f'<a href="/runs/{b}">b</a>' in html


def test_values_at_a_step_are_each_runs_last_at_or_before_it(http: httpx.Client) -> None:
    every_other = logged("even", {}, {0: 10.0, 2: 12.0, 4: 14.0, 6: 16.0})
    late = logged("late", {}, {5: 25.0, 9: 29.0})
    twice = logged("nan", {}, {3: 2.0, 4: math.nan})
    with cairn.start_run("other", experiment="cmp") as run:
        run.log({"acc": 1.0}, step=0)
    other = run.id
    runs = ",".join([every_other, late, twice, other])

    def at(step: int | None) -> list[tuple]:
        query = {"runs": runs, "metric": "loss"} | ({} if step is None else {"step": step})
        found = http.get("/api/compare", params=query).json()
        assert found["metric"] == "loss" and found["step"] == step
        return [(v["run"], v["step"], v["value"]) for v in found["values"]]

    assert at(5) == [(every_other, 4, 14.0), (late, 5, 25.0), (twice, 4, None), (other, None, None)]
    assert at(3) == [
        (every_other, 2, 12.0),
        (late, None, None),
        (twice, 3, 2.0),
        (other, None, None),
    ]
    assert at(None) == [
        (every_other, 6, 16.0),
        (late, 9, 29.0),
        (twice, 4, None),
        (other, None, None),
    ]

    html = http.get("/compare", params={"runs": runs, "metric": "loss", "step": 3}).text
    assert "loss at step 3" in html
    assert f'<tr data-run="{every_other}"><td><a href="/runs/{every_other}">even</a>' in html
    assert '<td class="num">2</td><td class="num">12</td></tr>' in html
    assert '<td class="num"></td><td class="num"><span class="dim">none</span></td>' in html


def test_curves_are_overlaid_on_shared_steps(http: httpx.Client) -> None:
    short = logged("short", {}, {0: 1.0, 1: 2.0, 2: 3.0})
    long = logged("long", {}, {0: 10.0, 2: 30.0, 4: 50.0})
    found = http.get("/api/compare/curves", params={"runs": f"{short},{long}", "metric": "loss"})
    curves = found.json()
    assert curves["step"] == [0, 1, 2, 4] and not curves["downsampled"]
    assert list(curves["runs"]) == [short, long]
    assert curves["runs"][short]["value"] == [1.0, 2.0, 3.0, None]  # NaN reads as null
    assert curves["runs"][long]["value"] == [10.0, None, 30.0, 50.0]
    assert curves["max_points"] == 2_000  # two runs share the points of a chart generously

    html = http.get("/compare", params={"runs": f"{short},{long}"}).text
    assert '<div id="compare-charts" class="charts" data-query="runs=' in html
    assert '<div class="chart" data-key="loss"></div>' in html


def test_downsampled_curves_keep_each_runs_spike(http: httpx.Client) -> None:
    spiky = logged("spiky", {}, {s: 1e6 if s == 777 else 0.0 for s in range(2_000)})
    flat = logged("flat", {}, {s: 0.0 for s in range(1_000)})
    found = http.get(
        "/api/compare/curves",
        params={"runs": f"{spiky},{flat}", "metric": "loss", "max_points": 100},
    ).json()
    assert found["downsampled"] and len(found["step"]) == 100
    assert found["step"][:2] == [0, 20]
    assert found["runs"][spiky]["max"][777 // 20] == 1e6
    assert max(found["runs"][flat]["max"][:50]) == 0.0
    assert found["runs"][flat]["value"][50:] == [None] * 50


def test_a_scatter_takes_a_whole_experiment(http: httpx.Client) -> None:
    ids = log_runs(3, experiment="grid")
    with cairn.start_run("no-params", experiment="grid") as run:
        run.log({"acc": 0.5})
    logged("elsewhere", {"C": 9.0}, {0: 1.0}, experiment="other")

    found = http.get(
        "/api/compare/scatter", params={"experiment": "grid", "param": "C", "metric": "acc"}
    ).json()
    assert found["run"] == ids and found["runs"] == 4
    assert found["x"] == pytest.approx([0.1, 0.2, 0.3])
    assert found["y"] == [1 - math.exp(-19 / (i + 2)) for i in range(3)]

    lowest = http.get(
        "/api/compare/scatter",
        params={"runs": ",".join(ids), "param": "kind", "metric": "loss", "pick": "max"},
    ).json()
    assert lowest["x"] == ["lr", "lr", "lr"] and lowest["y"] == [1.0, 1.0, 1.0]

    html = http.get("/compare", params={"experiment": "grid", "x": "C", "y": "acc"}).text
    assert "Compare 4 run(s) of grid" in html
    assert 'data-query="experiment=grid" data-param="C" data-metric="acc" data-pick="last"' in html


def test_bad_selections_are_refused(http: httpx.Client) -> None:
    (known,) = log_runs(1)
    cases = [
        ({}, 400, "nothing to compare"),
        ({"runs": ""}, 400, "nothing to compare"),
        ({"runs": f"{known},NOSUCHRUN"}, 404, "NOSUCHRUN"),
        ({"runs": known, "experiment": "digits"}, 400, "not both"),
        ({"experiment": "nosuch"}, 404, "nosuch"),
        ({"runs": known, "step": "3"}, 400, "step needs a metric"),
        ({"runs": known, "metric": "loss", "step": "three"}, 400, "step"),
        ({"runs": known, "metric": "loss", "step": "-1"}, 400, "step"),
    ]
    for query, status, message in cases:
        response = http.get("/api/compare", params=query)
        assert response.status_code == status, query
        assert message in response.json()["error"], query

    # Commas as they are: encoded, 10,001 ids would pass the client's URL limit.
    too_many = http.get("/api/compare?runs=" + ",".join(f"{i:x}" for i in range(10_001)))
    assert too_many.status_code == 413
    assert "at most 10000" in too_many.json()["error"]

    curves = http.get("/api/compare/curves", params={"runs": known})
    assert curves.status_code == 400 and "metric" in curves.json()["error"]
    bad_points = {"runs": known, "metric": "loss", "max_points": "1"}
    assert http.get("/api/compare/curves", params=bad_points).status_code == 400
    scatter = http.get("/api/compare/scatter", params={"runs": known, "param": "C"})
    assert scatter.status_code == 400
    pick = {"runs": known, "param": "C", "metric": "loss", "pick": "median"}
    assert (
        "pick must be one of last, min, max" in http.get("/api/compare/scatter", params=pick).text
    )

    for query, status in [({}, 400), ({"runs": "NOSUCHRUN"}, 404), ({"experiment": "x"}, 404)]:
        page = http.get("/compare", params=query)
        assert page.status_code == status, query
        assert page.headers["content-type"].startswith("text/html")
