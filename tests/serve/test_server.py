"""`cairn serve` over real sockets: the three wire formats, batching, the cache, bad input,
a failing model, hot reload under load, overload, stragglers, routing and the prediction log."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import cairn
from cairn import models
from cairn.serve.client import Client
from cairn.serve.settings import ServeSettings
from tests.serve.serving import X, digits_model, register_digits, run, running


@pytest.fixture
def digits(workspace: Path) -> models.ModelVersion:
    version = register_digits()
    models.set_alias("digits", "production", version.version)
    return version


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples matching `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_v1_answers_with_the_models_predictions_version_and_an_id(digits) -> None:
    with running(ServeSettings(("digits@production",))) as url:
        body = httpx.post(f"{url}/v1/models/digits/predict", json={"inputs": X[:3].tolist()})
        assert body.status_code == 200, body.text
        data = body.json()
        expected = models.load("digits@production").predict(X[:3])
        assert data["predictions"] == expected.tolist()
        assert (data["model"], data["version"]) == ("digits", 1)
        assert re.fullmatch(r"[0-9A-Z]{26}", data["id"])
        with Client(url) as client:
            assert client.ready()
            one = client.predict("digits", X[5:6])
            assert one.predictions == models.load("digits/1").predict(X[5:6]).tolist()


def test_many_single_row_clients_are_batched_together_and_split_back(digits) -> None:
    rows = X[:256]
    expected = digits_model().predict(rows).tolist()

    async def many(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post("/v1/models/digits/predict", json={"inputs": [r.tolist()]})
                  for r in rows)
            )  # fmt: skip
        assert {a.status_code for a in answers} == {200}
        return [a.json()["predictions"][0] for a in answers]

    settings = ServeSettings(("digits@production",), cache_entries=0, slo_ms=200)
    with running(settings) as url:
        assert run(many(url)) == expected
        text = httpx.get(f"{url}/metrics").text
    batches = metric(text, "cairn_serve_batch_size_count", model="digits")
    rows_seen = metric(text, "cairn_serve_batch_size_sum", model="digits")
    assert rows_seen >= 256 and 0 < batches < 256  # warm-up aside, rows shared batches


def test_the_cache_answers_a_repeated_input(digits) -> None:
    with running(ServeSettings(("digits@production",))) as url:
        for _ in range(3):
            assert httpx.post(f"{url}/v1/models/digits/predict",
                              json={"inputs": X[:2].tolist()}).status_code == 200  # fmt: skip
        text = httpx.get(f"{url}/metrics").text
    assert metric(text, "cairn_serve_cache_hits_total", model="digits") == 2
    assert metric(text, "cairn_serve_cache_misses_total", model="digits") == 1


def test_open_inference_protocol_v2_and_mlflow_invocations(digits) -> None:
    with running(ServeSettings(("digits@production",))) as url:
        assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
        assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
        assert httpx.get(f"{url}/v2/models/digits/ready").json()["ready"] is True
        meta = httpx.get(f"{url}/v2/models/digits").json()
        assert meta["name"] == "digits" and meta["versions"]
        tensor = {"name": "input", "shape": [2, 64], "datatype": "FP64",
                  "data": X[:2].ravel().tolist()}  # fmt: skip
        infer = httpx.post(f"{url}/v2/models/digits/infer", json={"id": "r1", "inputs": [tensor]})
        assert infer.status_code == 200, infer.text
        out = infer.json()
        assert out["id"] == "r1" and out["model_version"] == "1"
        expected = digits_model().predict(X[:2]).tolist()
        assert out["outputs"][0]["data"] == expected
        for body in ({"instances": X[:2].tolist()}, {"inputs": X[:2].tolist()},
                     {"dataframe_split": {"columns": [str(i) for i in range(64)],
                                          "data": X[:2].tolist()}}):  # fmt: skip
            answer = httpx.post(f"{url}/invocations", json=body)
            assert answer.status_code == 200, (body.keys(), answer.text)
            assert answer.json() == {"predictions": expected}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "says"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ({"content": b"a,b\n1,2", "headers": {"content-type": "text/csv"}}, 415, "json"),
        ({"json": {"inputs": [[1.0, 2.0]]}}, 422, "dimension"),
        ({"json": {"inputs": [["x"] * 64]}}, 422, "expected"),
        ({"json": {"rows": [[1.0] * 64]}}, 400, "inputs"),
        ({"json": {"inputs": [[0.0] * 64] * 11}}, 413, "rows"),
        (
            {
                "content": b"[" + b"0," * 600_000 + b"0]",
                "headers": {"content-type": "application/json"},
            },
            413,
            "limit",
        ),  # fmt: skip
    ],
)
def test_bad_input_gets_a_4xx_with_a_json_error(digits, request_kwargs, status, says) -> None:
    settings = ServeSettings(("digits@production",), max_rows=10, max_body_bytes=1_000_000)
    with running(settings) as url:
        answer = httpx.post(f"{url}/v1/models/digits/predict", **request_kwargs)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert says.lower() in answer.json()["error"].lower()
        unknown = httpx.post(f"{url}/v1/models/nope/predict", json={"inputs": [[0.0] * 64]})
        assert unknown.status_code == 404 and "digits" in unknown.json()["error"]
        feedback = httpx.post(f"{url}/v1/models/digits/feedback", json={"id": "x", "reward": 1})
        assert feedback.status_code == 404


class Flaky:
    """A model that fails on rows whose first value is negative."""

    def predict(self, rows):
        rows = np.asarray(rows)
        if (rows[:, 0] < 0).any():
            raise RuntimeError("cannot score negative rows")
        return rows[:, 0] * 2


def test_a_model_that_raises_gives_a_500_with_the_request_id_and_serving_goes_on(
    workspace: Path,
) -> None:
    models.register("flaky", Flaky(), owner="ml", example=np.ones((2, 3)))
    settings = ServeSettings(("flaky@latest",), cache_entries=0, batching=False)
    with running(settings) as url:
        bad = httpx.post(f"{url}/v1/models/flaky/predict", json={"inputs": [[-1.0, 0, 0]]})
        assert bad.status_code == 500
        assert re.fullmatch(r"[0-9A-Z]{26}", bad.json()["request_id"])
        good = httpx.post(f"{url}/v1/models/flaky/predict", json={"inputs": [[2.0, 0, 0]]})
        assert good.status_code == 200 and good.json()["predictions"] == [4.0]


def test_moving_the_alias_switches_under_load_without_a_failed_request(digits) -> None:
    second = register_digits(c=0.01)

    async def load_until_switched(url: str) -> tuple[list[int], float]:
        statuses, versions = [], []
        switched_at = moved_at = None
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def one(i: int) -> None:
                answer = await client.post("/v1/models/digits/predict",
                                           json={"inputs": [X[i % 100].tolist()]})  # fmt: skip
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    versions.append(answer.json()["version"])

            i = 0
            while switched_at is None or time.monotonic() - switched_at < 0.5:
                await asyncio.gather(*(one(i + k) for k in range(16)))
                i += 16
                if moved_at is None and i >= 160:
                    await asyncio.to_thread(models.set_alias, "digits", "production",
                                            second.version)  # fmt: skip
                    moved_at = time.monotonic()
                if moved_at and switched_at is None and versions[-1] == second.version:
                    switched_at = time.monotonic()
                if moved_at and time.monotonic() - moved_at > 10:
                    break
        assert moved_at is not None and switched_at is not None, "never switched"
        return statuses, switched_at - moved_at

    with running(ServeSettings(("digits@production",), cache_entries=0)) as url:
        statuses, switch_s = run(load_until_switched(url))
    assert set(statuses) == {200}, "a request failed across the switch"
    assert switch_s < 2.5  # the registry is polled every second


class Slow:
    """A model whose every batch takes `seconds`: a straggler."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, rows):
        time.sleep(self.seconds)  # the model's own cost, not synchronization
        return np.zeros(len(rows))


def test_a_straggler_is_answered_with_the_default_and_says_so(workspace: Path) -> None:
    models.register("slow", Slow(0.3), owner="ml")
    settings = ServeSettings(("slow@latest",), slo_ms=50, defaults={"slow": -1},
                             cache_entries=0)  # fmt: skip
    with running(settings) as url:
        answer = httpx.post(f"{url}/v1/models/slow/predict", json={"inputs": [[1.0]]})
    assert answer.status_code == 200
    assert answer.json()["predictions"] == -1 and answer.json()["default"] is True


def test_overload_is_refused_at_once_with_retry_after(workspace: Path) -> None:
    # The example warms the batcher up: it knows a batch takes 0.2 s before the flood.
    models.register("slow", Slow(0.2), owner="ml", example=np.ones((1, 1)))
    settings = ServeSettings(("slow@latest",), slo_ms=500, cache_entries=0, max_batch=1)

    async def flood(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/v1/models/slow/predict", json={"inputs": [[float(i)]]})
                  for i in range(40))
            )  # fmt: skip

    with running(settings) as url:
        answers = run(flood(url))
    refused = [a for a in answers if a.status_code == 503]
    assert refused and all(a.headers.get("retry-after") for a in refused)
    assert {a.status_code for a in answers} <= {200, 503}
    assert any(a.status_code == 200 for a in answers)


def test_split_shadow_and_bandit_routes(workspace: Path) -> None:
    first = register_digits()
    register_digits(c=0.01)
    models.set_alias("digits", "production", first.version)
    split = ServeSettings(("digits@production",), routes={"digits": "split:1=50,2=50"},
                          cache_entries=0)  # fmt: skip
    with running(split) as url:
        versions = {httpx.post(f"{url}/v1/models/digits/predict",
                               json={"inputs": [X[0].tolist()]}).json()["version"]
                    for _ in range(40)}  # fmt: skip
    assert versions == {1, 2}
    shadow = ServeSettings(("digits@production",), routes={"digits": "shadow:2"}, sample=1.0)
    with running(shadow) as url:
        for i in range(5):
            answer = httpx.post(f"{url}/v1/models/digits/predict",
                                json={"inputs": [X[i].tolist()]})  # fmt: skip
            assert answer.json()["version"] == 1
        text = httpx.get(f"{url}/metrics").text
    assert metric(text, "cairn_serve_shadow", model="digits") >= 1
    bandit = ServeSettings(("digits@production",), routes={"digits": "bandit:exp3:1,2"},
                           cache_entries=0)  # fmt: skip
    with running(bandit) as url, Client(url) as client:
        for i in range(60):
            p = client.predict("digits", X[i : i + 1])
            client.feedback("digits", p.id, 1.0 if p.version == 2 else 0.0)
        late = [client.predict("digits", X[i : i + 1]).version for i in range(60)]
    assert late.count(2) > late.count(1)


def test_sampled_predictions_are_logged_and_lead_back_to_the_training_run(
    workspace: Path,
) -> None:
    with cairn.start_run("train") as run_:
        version = register_digits()
    models.set_alias("digits", "production", version.version)
    with running(ServeSettings(("digits@production",), sample=1.0)) as url:
        answer = httpx.post(f"{url}/v1/models/digits/predict", json={"inputs": [X[0].tolist()]})
        prediction_id = answer.json()["id"]
    graph = cairn.lineage(prediction_id)
    assert f"run:{run_.id}" in graph.nodes
