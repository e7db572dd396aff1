"""The endpoints page (`/endpoints`) and its API: for each running `cairn serve` server (the
URLs the UI was started with, or `?url=`), what its /metrics says per model and version,
and the newest sampled predictions in the store, each linked to its lineage.

A request rate needs two readings: the UI keeps each server's last reading, so the rate is
over the time since the last look (the page looks again every few seconds); on the first
look it is the average since each series' first request, when the server says when that
was. A server that cannot be reached is shown as down, never as an error of the page.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.errors import InvalidValueError, RequestError
from cairn.serve.predictions import PredictionRecord, list_predictions
from cairn.serve.scrape import Buckets, ServerStats, VersionStats, parse_metrics
from cairn.ui.web import api, page, query_int, query_text, store_of

SCRAPE_TIMEOUT_S = 2.0
PREDICTIONS_SHOWN = 20
MAX_PREDICTIONS = 500
REFRESH_S = 5  # how often the page reads the servers again
QUANTILES = {"p50": 0.5, "p99": 0.99}


@dataclass(frozen=True)
class Reading:
    """One scrape of a server: when (monotonic, for intervals; wall clock, for `_created`)."""

    at: float
    wall: float
    stats: ServerStats


def checked_url(text: str) -> str:
    """A server's base URL: http(s) with a host, without a trailing slash."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise RequestError(
            f"{text!r} is not a URL; give a server's, e.g. http://127.0.0.1:8000"
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise RequestError(
            f"{text!r} is not an http(s) URL with a host; give a server's, e.g. "
            "http://127.0.0.1:8000"
        )
    return str(url).rstrip("/")


def _metrics_url(base: str) -> str:
    return base if base.endswith("/metrics") else base + "/metrics"


def _readings(request: Request) -> dict[str, Reading]:
    """The last reading of each server, kept on the app for the next request's rates."""
    state = request.app.state
    if not hasattr(state, "endpoint_readings"):
        state.endpoint_readings = {}
    return state.endpoint_readings


async def scrape(client: httpx.AsyncClient, url: str, readings: dict[str, Reading]) -> dict:
    """What server `url` says, or why it could not be read (`up` false)."""
    try:
        answer = await client.get(_metrics_url(url))
        if answer.status_code != 200:
            return _down(url, f"/metrics answered HTTP {answer.status_code}")
        stats = parse_metrics(answer.text)
    except httpx.HTTPError as exc:
        return _down(url, f"unreachable: {type(exc).__name__}: {exc}".rstrip(": "))
    except InvalidValueError as exc:
        return _down(url, str(exc))
    now = Reading(time.monotonic(), time.time(), stats)
    before = readings.get(url)
    readings[url] = now
    interval = None if before is None else now.at - before.at
    return {
        "url": url,
        "up": True,
        "error": None,
        "scraped": now.wall,
        "interval": interval,
        "versions": [
            version_json(
                v,
                before.stats.versions.get((v.model, v.version)) if before else None,
                interval,
                now.wall,
            )
            for v in stats.ordered()
        ],  # fmt: skip
        "errors": stats.errors,
    }


def _down(url: str, error: str) -> dict:
    return {"url": url, "up": False, "error": error, "scraped": time.time(), "interval": None,
            "versions": [], "errors": {}}  # fmt: skip


def version_json(
    stats: VersionStats, before: VersionStats | None, interval: float | None, now: float
) -> dict:
    rate = stats.request_rate(before, interval or 0.0, now)
    return {
        "model": stats.model,
        "version": stats.version,
        "requests": stats.requests,
        "failed": stats.failed,
        "rate": rate,
        "rate_over": None if rate is None else ("interval" if before is not None else "lifetime"),
        "endpoints": stats.by_endpoint,
        "latency_s": buckets_json(stats.latency),
        "batch_size": buckets_json(stats.batch_size, interpolate=False),
        "batch_rows": buckets_json(stats.batch_rows, interpolate=False),
        "cache": {
            "hits": stats.cache_hits,
            "misses": stats.cache_misses,
            "hit_ratio": stats.hit_ratio,
        },
    }


def buckets_json(buckets: Buckets, interpolate: bool = True) -> dict:
    """Count, mean and quantiles; without `interpolate`, each quantile is its bucket's upper
    bound (batch sizes are counts: "at most 8")."""
    return {
        "count": buckets.count,
        "mean": buckets.mean,
        **{name: buckets.quantile(q, interpolate) for name, q in QUANTILES.items()},
    }


def prediction_json(p: PredictionRecord) -> dict:
    return {
        "id": p.id,
        "model": p.name,
        "version": p.version,
        "ts": p.ts,
        "inputs": p.inputs,
        "outputs": p.outputs,
        "latency_ms": p.latency_ms,
        "route": p.route,
        "shadow": p.shadow,
        "fallback": p.fallback,
        "lineage": f"/lineage/{p.node}",
    }


async def endpoints_data(request: Request) -> dict:
    """?url= (repeatable; else the URLs the UI was started with), ?model= and ?limit= for
    the predictions."""
    given = [checked_url(u) for u in request.query_params.getlist("url") if u.strip()]
    urls = list(dict.fromkeys(given or [u.rstrip("/") for u in request.app.state.endpoints]))
    model = query_text(request, "model")
    limit = query_int(request, "limit", PREDICTIONS_SHOWN, 1, MAX_PREDICTIONS)
    readings = _readings(request)
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
        servers = await asyncio.gather(*(scrape(client, url, readings) for url in urls))
    store = store_of(request)
    predictions = await run_in_threadpool(list_predictions, store, name=model, limit=limit)
    return {
        "servers": list(servers),
        "predictions": [prediction_json(p) for p in predictions],
        "model": model,
        "limit": limit,
        "refresh_s": REFRESH_S,
    }


async def endpoints_api(request: Request) -> Response:
    return api(await endpoints_data(request))


async def endpoints_page(request: Request) -> Response:
    return page(request, "endpoints.html", data=await endpoints_data(request))


def routes() -> list[Route]:
    return [
        Route("/endpoints", endpoints_page),
        Route("/api/endpoints", endpoints_api),
    ]
