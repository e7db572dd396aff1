"""The lineage page and its API over a real socket: a dataset read by a run that registered
a model, a prediction of that model, and a run that scored with it; each walked up, down or
both from any of them, every node linking to its page; bad references refused with a 4xx."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn import models
from cairn.serve.predictions import PredictionLog
from cairn.store import get_store
from tests.ui.browsing import ui_server

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)
IDLE_S = 3600.0  # the prediction log writes only when closed


@dataclass
class History:
    http: httpx.Client  # one client: a new one per request costs a TLS context each
    dataset: cairn.ArtifactRef
    fit_run: str
    version: models.ModelVersion
    prediction: str
    score_run: str


@pytest.fixture
def history(workspace: Path) -> Iterator[History]:
    """train:1 -> run fit -> digits/1 (alias production) -> a prediction, and run score."""
    dataset = cairn.datasets.save("train", {"X": X, "y": Y}, description="first cut")
    with cairn.start_run("fit", experiment="digits", params={"C": 0.5}) as fit:
        data = cairn.datasets.load("train")
        model = LogisticRegression(C=0.5).fit(data["X"], data["y"])
        version = models.register("digits", model, owner="alice")
    models.set_alias("digits", "production", 1)
    with cairn.start_run("score", experiment="digits") as score:
        models.load("digits@production")
    log = PredictionLog(get_store(), sample=1.0, flush_s=IDLE_S)
    prediction = log.new_id()
    log.record(prediction, name="digits", version=1, artifact_id=version.artifact_id,
               inputs=X[:1], outputs=Y[:1], latency_ms=1.5, route="fixed")  # fmt: skip
    log.close()
    with ui_server() as url, httpx.Client(base_url=url) as http:
        yield History(http, dataset, fit.id, version, prediction, score.id)


def lineage(h: History, ref: str, **query: object) -> dict:
    response = h.http.get(f"/api/lineage/{ref}", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def by_id(graph: dict) -> dict[str, dict]:
    return {n["id"]: n for n in graph["nodes"]}


def edges(graph: dict) -> set[tuple[str, str, str]]:
    return {(e["src"], e["dst"], e["relation"]) for e in graph["edges"]}


def test_a_model_version_reaches_its_run_and_dataset_each_node_a_link(history: History) -> None:
    h = history
    model, data = h.version.node, h.dataset.node
    fit, score = f"run:{h.fit_run}", f"run:{h.score_run}"
    graph = lineage(h, "digits/1", direction="up")
    nodes = by_id(graph)
    assert set(nodes) == {model, fit, data}
    assert graph["root"] == model and nodes[model]["root"] and not nodes[fit]["root"]
    assert (nodes[model]["kind"], nodes[model]["label"], nodes[model]["url"]) == (
        "model", "digits/1", "/models/digits"
    )  # fmt: skip
    assert (nodes[fit]["kind"], nodes[fit]["url"]) == ("run", f"/runs/{h.fit_run}")
    assert nodes[fit]["label"] == "digits/fit" and nodes[fit]["attrs"]["params"] == {"C": 0.5}
    assert (nodes[data]["kind"], nodes[data]["label"], nodes[data]["url"]) == (
        "dataset", "train:1", "/datasets/train"
    )  # fmt: skip
    assert edges(graph) == {(model, fit, "wasGeneratedBy"), (fit, data, "used")}
    # Both ways (the default) adds what the version fed: the scoring run and the prediction.
    both = lineage(h, "digits/1")
    prediction = f"prediction:{h.prediction}"
    assert set(by_id(both)) == {model, fit, data, score, prediction}
    assert by_id(both)[prediction]["url"] == f"/lineage/{prediction}"
    assert by_id(both)[prediction]["kind"] == "prediction"
    assert edges(both) >= {(score, model, "used"), (prediction, model, "used")}
    assert both["direction"] == "both" and both["nodes"][0]["id"] == model  # the root first


def test_every_way_of_naming_a_node_finds_the_same_one(history: History) -> None:
    h = history
    names = {
        h.version.node: ["digits/1", "digits@production", "digits@latest", h.version.node,
                         "digits:1"],
        h.dataset.node: ["train/1", "train:1", "train", h.dataset.node],
        f"run:{h.fit_run}": [h.fit_run, h.fit_run.lower(), f"run:{h.fit_run}"],
        f"prediction:{h.prediction}": [h.prediction, f"prediction:{h.prediction}"],
    }  # fmt: skip
    for node, refs in names.items():
        for ref in refs:
            assert lineage(h, ref, depth=0)["root"] == node, ref


def test_direction_and_depth_bound_the_walk(history: History) -> None:
    h = history
    data, fit = h.dataset.node, f"run:{h.fit_run}"
    assert set(by_id(lineage(h, "train/1", direction="up"))) == {data}
    down = lineage(h, "train/1", direction="down")
    assert set(by_id(down)) == {
        data, fit, h.version.node, f"run:{h.score_run}", f"prediction:{h.prediction}"
    }  # fmt: skip
    assert set(by_id(lineage(h, "train/1", direction="down", depth=1))) == {data, fit}
    assert set(by_id(lineage(h, "train/1", direction="down", depth=0))) == {data}
    up = lineage(h, h.prediction, direction="up")
    assert by_id(up)[f"prediction:{h.prediction}"]["label"] == "prediction of digits/1"
    assert set(by_id(up)) == {f"prediction:{h.prediction}", h.version.node, fit, data}


def test_the_page_lists_every_node_as_a_link_and_loads_the_graph_scripts(
    history: History,
) -> None:
    h = history
    response = h.http.get("/lineage/digits/1")
    assert response.status_code == 200
    html = response.text
    assert '<div id="lineage-graph"' in html
    for href in ("/models/digits", f"/runs/{h.fit_run}", f"/runs/{h.score_run}",
                 "/datasets/train", f"/lineage/prediction:{h.prediction}"):  # fmt: skip
        assert f'href="{href}"' in html, href
    # The data the script draws is the API's graph (without the attributes).
    embedded = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>', html)
    assert embedded is not None
    drawn = json.loads(embedded.group(1))
    api = lineage(h, "digits/1")
    assert drawn["edges"] == api["edges"]
    assert drawn["nodes"] == [{k: v for k, v in n.items() if k != "attrs"} for n in api["nodes"]]
    scripts = re.findall(r'<script src="([^"]+)"', html)
    graph_scripts = [s for s in scripts if "htmx" not in s]
    assert graph_scripts == [
        "/static/vendor/cytoscape/cytoscape.min.js",
        "/static/vendor/dagre/dagre.min.js",
        "/static/vendor/cytoscape-dagre/cytoscape-dagre.js",
        "/static/graph.js",
    ]
    for script in graph_scripts:
        served = h.http.get(script)
        assert served.status_code == 200 and len(served.content) > 1000, script
    # Up only: the prediction and the scoring run are gone from the list.
    up = h.http.get("/lineage/digits/1", params={"direction": "up"}).text
    assert f"/runs/{h.fit_run}" in up and f"prediction:{h.prediction}" not in up
    assert f"/runs/{h.score_run}" not in up


def test_a_run_page_links_to_its_lineage_which_opens(history: History) -> None:
    h = history
    run_page = h.http.get(f"/runs/{h.fit_run}").text
    assert f'href="/lineage/run:{h.fit_run}"' in run_page
    page = h.http.get(f"/lineage/run:{h.fit_run}")
    assert page.status_code == 200 and "Lineage of" in page.text and "digits/fit" in page.text


BAD = [
    ("nosuch", {}, 404),
    ("artifact:abc", {}, 404),
    ("artifact:999", {}, 404),
    ("run:01HZZZZZZZZZZZZZZZZZZZZZZZ", {}, 404),
    ("digits/9", {}, 404),  # a model without that version
    ("digits@staging", {}, 404),  # a model without that alias
    ("train/9", {}, 404),  # a dataset without that version
    ("digits/0", {}, 400),
    ("digits/1", {"direction": "sideways"}, 400),
    ("digits/1", {"depth": "-1"}, 400),
    ("digits/1", {"depth": "two"}, 400),
    (" ", {}, 400),
]


def test_bad_references_and_parameters_are_refused(history: History) -> None:
    for ref, query, status in BAD:
        response = history.http.get(f"/api/lineage/{ref}", params=query)
        assert response.status_code == status, (ref, query, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]
        page = history.http.get(f"/lineage/{ref}", params=query)
        assert page.status_code == status, (ref, query)
        assert page.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in page.text
