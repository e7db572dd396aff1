"""What checking a token costs a prediction: the CPU time `cairn serve`'s app spends a request
with auth on against the same app with auth off, measured where the load of a shared machine
cannot tip the comparison.

bench_serve.py measures throughput under wrk, where the two sides of a pair run seconds apart
and the other tenants of a shared machine move either by 20 %. Here the four apps (auth off
and on, cache on and off) live in one process, on one event loop, serving the same model from
the same workspace, each started through its ASGI lifespan as uvicorn starts it. Requests go
straight to the ASGI callable, 64 at a time; blocks of them alternate between the apps, and
each block's CPU time of this process (not wall time: time spent waiting for a core does not
count) is divided by its requests. A round is one block of each app, in an order that turns
round by round; a pair's ratio is taken within a round, and the table has the medians.

The request is `cairn serve`'s hot path whole, but without uvicorn's HTTP parsing and socket
writes, which cost both sides the same: leaving them out makes auth's share larger than in
a real server, so a ratio met here is met there.
Run: python benchmarks/bench_auth_cost.py [--rounds 15] [--requests 1280]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from _report import report
from bench_serve import prepare

from cairn.serve.app import ServeApp
from cairn.serve.settings import ServeSettings
from cairn.store import get_store

CONCURRENCY = 64
PATH = "/v1/models/digits/predict"
TARGET = 0.9  # auth on keeps at least 90 % of auth off's throughput


@asynccontextmanager
async def running(app: ServeApp):
    """The app between its lifespan's startup and shutdown, driven as an ASGI server does."""
    events: asyncio.Queue[dict] = asyncio.Queue()
    started, ended = asyncio.Event(), asyncio.Event()
    await events.put({"type": "lifespan.startup"})

    async def send(message: dict) -> None:
        if message["type"].endswith(".failed"):
            raise RuntimeError(message.get("message", "the lifespan failed"))
        (started if message["type"] == "lifespan.startup.complete" else ended).set()

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send)
    )
    await started.wait()
    try:
        yield app
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await ended.wait()
        await task


async def serve_block(app: ServeApp, body: bytes, token: str | None, requests: int) -> float:
    """CPU seconds this process spent answering `requests` predictions, 64 at a time."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    statuses: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    began = time.process_time()
    for _ in range(requests // CONCURRENCY):
        await asyncio.gather(*(app(dict(scope), receive, send) for _ in range(CONCURRENCY)))
    spent = time.process_time() - began
    if set(statuses) != {200}:
        raise RuntimeError(f"not every request was answered: statuses {sorted(set(statuses))}")
    return spent


async def measure(body: bytes, token: str, rounds: int, requests: int) -> dict[tuple, list[float]]:
    """{(cache, auth): [CPU microseconds a request, a round]}"""
    store = get_store()
    apps = {
        (cache, auth): ServeApp(
            ServeSettings(("digits@production",), cache_entries=10_000 if cache else 0, auth=auth),
            store,
        )
        for cache in (True, False)
        for auth in (False, True)
    }
    per_request: dict[tuple, list[float]] = {key: [] for key in apps}
    async with (
        running(apps[True, False]), running(apps[True, True]),
        running(apps[False, False]), running(apps[False, True]),
    ):  # fmt: skip
        for key, app in apps.items():  # warm: models loaded, caches filled, tokens verified
            await serve_block(app, body, token if key[1] else None, CONCURRENCY * 4)
        for round_ in range(rounds):
            order = list(apps) if round_ % 2 == 0 else list(reversed(apps))
            for key in order:
                spent = await serve_block(apps[key], body, token if key[1] else None, requests)
                per_request[key].append(spent / requests * 1e6)
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=1280, help="requests a block")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 256 requests")
    args = parser.parse_args()
    rounds, requests = (3, 256) if args.quick else (args.rounds, args.requests)
    if requests % CONCURRENCY:
        parser.error(f"--requests is a multiple of {CONCURRENCY}")
    with tempfile.TemporaryDirectory() as tmp:
        _, _, body_file, token = prepare(Path(tmp))
        body = body_file.read_bytes()
        per_request = asyncio.run(measure(body, token, rounds, requests))
    rows, verdicts = [], []
    for cache in (True, False):
        off, on = per_request[cache, False], per_request[cache, True]
        ratios = [o / a for o, a in zip(off, on, strict=True)]  # throughput with auth over without
        ratio = statistics.median(ratios)
        label = "cache on" if cache else "cache off"
        for auth, samples in ((False, off), (True, on)):
            rows.append(
                [
                    f"cairn's app, batching on, {label}, auth {'on' if auth else 'off'}",
                    f"{statistics.median(samples):,.1f}",
                    f"{max(samples) / min(samples):.2f}",
                    f"{1e6 / statistics.median(samples):,.0f}",
                    f"{ratio:.3f}x ({min(ratios):.3f}-{max(ratios):.3f})" if auth else "",
                ]
            )
        verdicts.append(
            f"{label}: auth on keeps {ratio:.1%} of auth off's throughput "
            f"(rounds {min(ratios):.1%} to {max(ratios):.1%}): "
            + ("met" if ratio >= TARGET else "NOT met")
        )
    notes = (
        f"{rounds} rounds of {requests} requests an app, {CONCURRENCY} at a time, each "
        '`{"inputs": [[64 floats]]}` (one digits row) to POST /v1/models/digits/predict of a '
        "`cairn.serve.app.ServeApp`, the app `cairn serve` runs, called as ASGI with no socket; "
        "auth on: `ServeSettings(auth=True)` (`cairn serve --auth`), every request with "
        "`Authorization: Bearer TOKEN`, a token from `cairn.auth.grant` allowing "
        "predict:model/digits. CPU us = this process's CPU time a request, median over the "
        "rounds; spread = its slowest round over its fastest; req/s a core = 1 / CPU time; "
        "x auth off = auth off's CPU time a request over auth on's in the same round "
        "(the throughput auth keeps), median and range over the rounds.\n\n"
        "Target (issue 13: throughput with auth on at most 10 % below auth off): "
        + "; ".join(verdicts)
        + "."
    )
    report(
        "auth_cost",
        "What a token check costs a prediction: CPU time a request, cairn serve's app with "
        "auth off and on, in one process",
        ["app", "CPU us a request", "spread", "req/s a core", "x auth off"],
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
