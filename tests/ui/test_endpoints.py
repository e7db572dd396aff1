"""The endpoints page and API over real sockets: a running `cairn serve` read through its
/metrics (requests, rates, latency, batches, cache hits), the sampled predictions linked to
their lineage, a server that cannot be reached shown as down, bad input a 4xx."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import httpx
import pytest

from cairn import models
from cairn.serve.app import ServeApp
from cairn.serve.scrape import Buckets, parse_metrics
from cairn.serve.settings import ServeSettings
from tests.serve.serving import X, digits_model, running
from tests.ui.browsing import ui_server

PREDICT = "/v1/models/digits/predict"


def test_a_running_server_is_read_per_model_version_with_its_predictions(
    workspace: Path,
) -> None:
    version = models.register("digits", digits_model(iterations=50), owner="ml", example=X[:4])
    models.set_alias("digits", "production", version.version)
    settings = ServeSettings(("digits@production",), sample=1.0)
    app = ServeApp(settings)
    with running(settings, app) as serve_url:
        ids = [
            httpx.post(serve_url + PREDICT, json={"inputs": [X[i].tolist()]}).json()["id"]
            for i in (0, 1, 2, 0)  # the last one again: a cache hit
        ]
        assert httpx.post(serve_url + PREDICT, json={"inputs": [[1, 2]]}).status_code == 422
        app.predictor.predictions.flush()
        with ui_server(endpoints=(serve_url,)) as url:
            first = httpx.get(f"{url}/api/endpoints").json()
            httpx.post(serve_url + PREDICT, json={"inputs": [X[3].tolist()]})
            second = httpx.get(f"{url}/api/endpoints").json()
            page = httpx.get(f"{url}/endpoints").text
    (server,) = first["servers"]
    assert server["url"] == serve_url and server["up"] is True and server["interval"] is None
    rows = {(v["model"], v["version"]): v for v in server["versions"]}
    served = rows[("digits", "1")]
    assert (served["requests"], served["failed"]) == (4, 0)
    assert served["rate"] > 0 and served["rate_over"] == "lifetime"
    assert 0 < served["latency_s"]["p50"] <= served["latency_s"]["p99"]
    assert served["batch_size"]["mean"] >= 1 and served["batch_size"]["count"] >= 3
    assert served["batch_size"]["p50"] == 1  # one request a batch: bucket "at most 1"
    assert served["cache"] == {"hits": 1, "misses": 3, "hit_ratio": 0.25}
    assert rows[("digits", "-")]["failed"] == 1  # the refused body reached no version
    again = {(v["model"], v["version"]): v for v in second["servers"][0]["versions"]}
    assert again[("digits", "1")]["requests"] == 5
    assert (
        again[("digits", "1")]["rate_over"] == "interval" and second["servers"][0]["interval"] > 0
    )
    assert [p["id"] for p in first["predictions"]] == ids[::-1]
    assert first["predictions"][0]["lineage"] == f"/lineage/prediction:{ids[-1]}"
    assert f'href="/lineage/prediction:{ids[0]}"' in page
    assert f'data-url="{serve_url}" data-up="true"' in page
    assert '<tr data-model="digits" data-version="1">' in page


def test_an_unreachable_server_is_shown_down_on_a_page_that_answers(workspace: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = f"http://127.0.0.1:{port}"
    with ui_server(endpoints=(down,)) as url:
        page = httpx.get(f"{url}/endpoints")
        data = httpx.get(f"{url}/api/endpoints").json()
        not_metrics = httpx.get(f"{url}/api/endpoints", params={"url": f"{url}/api"}).json()
    assert page.status_code == 200
    assert f'data-url="{down}" data-up="false"' in page.text and ">down<" in page.text
    (server,) = data["servers"]
    assert server["up"] is False and server["error"].startswith("unreachable: ConnectError")
    assert data["predictions"] == []
    (ui,) = not_metrics["servers"]  # the UI's API has no /metrics
    assert ui["up"] is False and ui["error"] == "/metrics answered HTTP 404"


@pytest.mark.parametrize(
    "query",
    ["url=ftp://127.0.0.1/", "url=127.0.0.1:8000", "url=http://", "limit=0", "limit=x"],
)
def test_bad_input_is_a_4xx_with_json(workspace: Path, query: str) -> None:
    with ui_server() as url:
        answer = httpx.get(f"{url}/api/endpoints?{query}")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json" and answer.json()["error"]


def test_quantiles_interpolate_within_buckets_as_prometheus_does() -> None:
    buckets = Buckets({0.01: 0.0, 0.02: 10.0, 0.05: 20.0, math.inf: 20.0}, 20.0, 0.5)
    assert buckets.quantile(0.5) == pytest.approx(0.02)
    assert buckets.quantile(0.25) == pytest.approx(0.015)
    assert buckets.quantile(0.75) == pytest.approx(0.035)
    assert Buckets({1.0: 1.0, math.inf: 2.0}, 2.0, 9.0).quantile(0.99) == 1.0  # in +Inf
    assert buckets.quantile(0.25, interpolate=False) == 0.02  # a count: the bucket's bound
    assert Buckets().quantile(0.5) is None and Buckets().mean is None


def test_a_page_that_is_not_prometheus_text_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Prometheus metrics page"):
        parse_metrics("<html>{not metrics}</html>")
