"""The ASGI application `cairn serve` runs: the predict route as a bare ASGI callable (the hot
path), everything else through Starlette (`routes.py`).

Every response to bad input is a 4xx with a JSON body (`statuses.py` maps cairn's errors);
anything else that goes wrong is a 500 carrying the request id it was logged under.

With `auth` set, a guard (`guard.py`) admits each request before it reaches its route, the
hot path included; cairn's auth extra is imported only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from cairn.errors import CairnError
from cairn.serve.batcher import BatchObserver, BatchStats
from cairn.serve.bodies import header, read_body
from cairn.serve.cache import PredictionCache
from cairn.serve.formats import read_v1, write_v1
from cairn.serve.metrics import MULTIPROC_ENV, Metrics
from cairn.serve.predicting import Predictor
from cairn.serve.predictions import PredictionLog
from cairn.serve.routes import routes
from cairn.serve.served import Fleet
from cairn.serve.settings import ServeSettings
from cairn.serve.statuses import error_response
from cairn.store import Store, get_store

if TYPE_CHECKING:
    from cairn.serve.guard import Guard, Need

log = logging.getLogger("cairn.serve")
V1_PREFIX, V1_SUFFIX = "/v1/models/", "/predict"
JSON_HEADERS = [(b"content-type", b"application/json")]


class ServeApp:
    """`await app(scope, receive, send)`; the state lives here, opened in the lifespan."""

    def __init__(self, settings: ServeSettings, store: Store | None = None) -> None:
        settings.refs()  # bad settings fail before anything starts
        self.settings = settings
        self._store = store
        self.metrics = Metrics(os.environ.get(MULTIPROC_ENV))
        self.predictor: Predictor | None = None
        self.starlette = Starlette(routes=routes(self), lifespan=self._lifespan)
        self.guard: Guard | None = None
        self._v1_need: Need | None = None
        if settings.auth:
            from cairn.serve.guard import NEEDS, V1_PREDICT, Guard

            names = [ref.name for ref in settings.refs()]
            self.guard, self._v1_need = Guard(self.starlette.routes, names), NEEDS[V1_PREDICT]

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        store = self._store or get_store(create=False)
        predictions = PredictionLog(store, sample=self.settings.sample)
        fleet = Fleet(store, self.settings, self._observer)
        entries = self.settings.cache_entries
        cache = PredictionCache(entries) if entries else None
        self.predictor = Predictor(
            fleet, predictions, self.metrics, cache, self.settings.max_rows,
            self.settings.slo_ms / 1000.0,
        )  # fmt: skip
        if self.guard is not None:
            from cairn.auth import public_key

            public_key(store)  # no root key: no token could ever be accepted
            self.guard.open(store)
        await fleet.start()
        follower = asyncio.get_running_loop().create_task(fleet.follow())
        try:
            yield
        finally:
            follower.cancel()
            await fleet.stop()
            if self.guard is not None:  # its last events are a few rows: written at once
                self.guard.close()
            try:  # a large backlog takes seconds to write: not on the event loop
                await asyncio.get_running_loop().run_in_executor(None, predictions.close)
            except CairnError as exc:
                log.error("the prediction log was not fully written: %s", exc)

    def label(self, name: str) -> str:
        """A model's name as a metrics label: a name nobody serves is "-", so requests for
        made-up names cannot grow the metrics without bound."""
        served = self.predictor is not None and name in self.predictor.fleet.models
        return name if served else "-"

    def _observer(self, name: str, version: int) -> BatchObserver:
        return _BatchMetrics(self.metrics, name, version)

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(V1_PREFIX) and path.endswith(V1_SUFFIX):
                name = path[len(V1_PREFIX) : -len(V1_SUFFIX)]
                if name and "/" not in name:
                    await self._predict_v1(scope, receive, send, name)
                    return
        if self.guard is not None and scope["type"] == "http":
            try:
                self.guard.admit(scope)
            except Exception as exc:  # a refusal, or a server still starting
                await _respond(send, *error_response(exc))
                return
        await self.starlette(scope, receive, send)

    async def _predict_v1(self, scope: dict, receive, send, name: str) -> None:
        started = time.perf_counter()
        version: int | str = "-"
        try:
            if self.guard is not None:
                self.guard.check(scope, self._v1_need, name)
            if self.predictor is None:
                raise CairnError("the server has not started")
            body = await read_body(scope, receive, self.settings.max_body_bytes)
            raw = read_v1(body, header(scope, b"content-type"), max_rows=self.settings.max_rows)
            outcome = await self.predictor.predict(name, raw)
            version = outcome.version
            payload = write_v1(
                outcome.name, outcome.version, outcome.outputs, outcome.id,
                fallback=outcome.fallback,
            )  # fmt: skip
            status, extra = 200, []
        except Exception as exc:  # every failure still gets a JSON answer
            status, payload, extra = error_response(exc)
        await _respond(send, status, payload, extra)
        self.metrics.request(self.label(name), version, "v1", status, time.perf_counter() - started)


async def _respond(send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(payload)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class _BatchMetrics:
    """A batcher's observer: its batches counted under its model and version."""

    def __init__(self, metrics: Metrics, name: str, version: int) -> None:
        self.metrics, self.name, self.version = metrics, name, version

    def batch(self, stats: BatchStats) -> None:
        self.metrics.batch(self.name, self.version, stats)


def create_app() -> ServeApp:
    """The app a uvicorn worker imports (`cairn.serve.app:create_app`, factory=True): its
    settings come from the environment `cairn serve` set."""
    return ServeApp(ServeSettings.from_env())
