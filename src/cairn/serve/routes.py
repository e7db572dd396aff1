"""Every route but the v1 predict one (the hot path, in `app.py`): health, the Open
Inference Protocol v2, MLflow's /invocations, feedback, metrics and the OpenAPI document."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.errors import OverloadedError, RequestError
from cairn.serve.bodies import read_body
from cairn.serve.formats import read_mlflow, read_v2_request, v2_metadata, write_mlflow, write_v2
from cairn.serve.openapi import openapi_document
from cairn.serve.statuses import error_response

if TYPE_CHECKING:
    from cairn.serve.app import ServeApp

Handler = Callable[[Request], Awaitable[tuple[int, object]]]


def routes(app: ServeApp) -> list[Route]:
    def endpoint(label: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def respond(request: Request) -> Response:
            started = time.perf_counter()
            try:
                status, body = await handler(request)
                headers: list[tuple[bytes, bytes]] = []
                payload = body if isinstance(body, bytes) else orjson.dumps(body)
            except Exception as exc:  # every failure still gets a JSON answer
                status, payload, headers = error_response(exc)
            response = Response(payload, status, media_type="application/json")
            for key, value in headers:
                response.headers[key.decode()] = value.decode()
            name = app.label(request.path_params.get("name", "-"))
            app.metrics.request(name, "-", label, status, time.perf_counter() - started)
            return response

        return respond

    def predictor():
        if app.predictor is None:
            raise OverloadedError("the server is still starting", 1.0)
        return app.predictor

    async def live(_: Request) -> tuple[int, object]:
        return 200, {"status": "live"}

    async def ready(_: Request) -> tuple[int, object]:
        fleet = predictor().fleet
        if not fleet.ready:
            raise OverloadedError("the server is still loading and warming its models", 1.0)
        return 200, {"status": "ready", "models": _served(app)}

    async def v2_live(_: Request) -> tuple[int, object]:
        return 200, {"live": True}

    async def v2_ready(_: Request) -> tuple[int, object]:
        ready = app.predictor is not None and app.predictor.fleet.ready
        return (200 if ready else 503), {"ready": ready}

    async def v2_model(request: Request) -> tuple[int, object]:
        served = predictor().served(request.path_params["name"])
        versions = sorted(served.versions)
        return 200, v2_metadata(served.name, versions, served.signature())

    async def v2_model_ready(request: Request) -> tuple[int, object]:
        served = predictor().served(request.path_params["name"])
        return 200, {"name": served.name, "ready": True}

    async def v2_infer(request: Request) -> tuple[int, object]:
        p = predictor()
        served = p.served(request.path_params["name"])
        body = await _body(request, app)
        infer = read_v2_request(
            body, request.headers.get("content-type"), served.signature(), max_rows=p.max_rows
        )
        outcome = await p.predict(served.name, infer.inputs)
        return 200, write_v2(
            outcome.name, outcome.version, outcome.outputs, infer.id,
            prediction_id=outcome.id, fallback=outcome.fallback, requested=infer.outputs,
        )  # fmt: skip

    async def invocations(request: Request) -> tuple[int, object]:
        p = predictor()
        name = _invoked(app, request)
        served = p.served(name)
        body = await _body(request, app)
        content_type = request.headers.get("content-type")
        raw = read_mlflow(body, content_type, served.signature(), max_rows=p.max_rows)
        outcome = await p.predict(name, raw)
        return 200, write_mlflow(outcome.outputs)

    async def feedback(request: Request) -> tuple[int, object]:
        body = await _body(request, app)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RequestError(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) - {"id", "reward"} or "id" not in data:
            raise RequestError('send {"id": PREDICTION_ID, "reward": NUMBER}')
        reward = data.get("reward")
        if (
            isinstance(reward, bool)
            or not isinstance(reward, int | float)
            or not math.isfinite(reward)
        ):
            raise RequestError(f"reward must be a finite number, got {reward!r}")
        version = predictor().feedback(request.path_params["name"], data["id"], float(reward))
        return 200, {"id": data["id"], "version": version, "reward": reward}

    async def models(_: Request) -> tuple[int, object]:
        return 200, {"models": _served(app)}

    async def metrics(_: Request) -> Response:
        body, content_type = app.metrics.render()
        return Response(body, 200, media_type=content_type)

    async def openapi(_: Request) -> Response:
        return Response(orjson.dumps(openapi_document(app.settings)), 200,
                        media_type="application/json")  # fmt: skip

    return [
        Route("/health/live", endpoint("live", live)),
        Route("/health/ready", endpoint("ready", ready)),
        Route("/v2/health/live", endpoint("v2", v2_live)),
        Route("/v2/health/ready", endpoint("v2", v2_ready)),
        Route("/v2/models/{name}", endpoint("v2", v2_model)),
        Route("/v2/models/{name}/ready", endpoint("v2", v2_model_ready)),
        Route("/v2/models/{name}/infer", endpoint("v2", v2_infer), methods=["POST"]),
        Route("/invocations", endpoint("mlflow", invocations), methods=["POST"]),
        Route("/v1/models", endpoint("v1", models)),
        Route("/v1/models/{name}/feedback", endpoint("feedback", feedback), methods=["POST"]),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
    ]


async def _body(request: Request, app: ServeApp) -> bytes:
    return await read_body(request.scope, request.receive, app.settings.max_body_bytes)


def _served(app: ServeApp) -> list[dict]:
    if app.predictor is None:
        return []
    return [
        {
            "name": m.name,
            "ref": str(m.ref),
            "route": m.router.kind.value,
            "versions": sorted(m.versions),
        }
        for m in app.predictor.fleet.models.values()
    ]


def _invoked(app: ServeApp, request: Request) -> str:
    """Which model /invocations means: the only one served, or ?model=NAME."""
    name = request.query_params.get("model")
    if name:
        return name
    names = [r.name for r in app.settings.refs()]
    if len(names) == 1:
        return names[0]
    raise RequestError(
        f"this server serves {', '.join(names)}: say which with /invocations?model=NAME"
    )
