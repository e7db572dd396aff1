"""cairn's app as a Ray Serve deployment on a real local Ray, over HTTP through Ray's proxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cairn import models
from cairn.errors import NotFoundError
from cairn.serve.ray_deployment import deployment
from cairn.serve.settings import ServeSettings
from tests.serve.serving import X, register_digits

pytestmark = pytest.mark.ray


@pytest.fixture
def ray_serve(ray_cluster: None) -> Iterator[str]:
    """Ray Serve's HTTP proxy on a free loopback port; Serve shut down afterwards."""
    from ray import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def test_replicas_answer_the_models_predictions_through_rays_proxy(
    workspace: Path, ray_serve: str
) -> None:
    from ray import serve

    version = register_digits()
    models.set_alias("digits", "production", version.version)
    settings = ServeSettings(("digits@production",), sample=0.0)
    serve.run(deployment(settings, num_replicas=2, ray_actor_options={"num_cpus": 0.5}))

    expected = models.load("digits@production").predict(X[:8]).tolist()
    with httpx.Client(base_url=ray_serve, timeout=30) as client:
        assert client.get("/health/ready").status_code == 200
        for row, label in zip(X[:8], expected, strict=True):
            answer = client.post("/v1/models/digits/predict", json={"inputs": [row.tolist()]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == [label]
            assert (answer.json()["model"], answer.json()["version"]) == ("digits", 1)
        whole = client.post("/invocations", json={"inputs": X[:8].tolist()})
        assert whole.json() == {"predictions": expected}
        unknown = client.post("/v1/models/nope/predict", json={"inputs": [X[0].tolist()]})
        assert unknown.status_code == 404


def test_an_alias_that_does_not_exist_is_refused_before_deploying(workspace: Path) -> None:
    register_digits()
    with pytest.raises(NotFoundError):
        deployment(ServeSettings(("digits@production",)))
