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
from dataclasses import dataclass
from pathlib import Path

from _report import report
from bench_serve import prepare

from cairn.serve.app import ServeApp
from cairn.serve.guard import NEEDS, V1_PREDICT, Guard
from cairn.serve.settings import ServeSettings
from cairn.store import get_store

CONCURRENCY = 64
PATH = "/v1/models/digits/predict"
TARGET = 0.9  # auth on keeps at least 90 % of auth off's throughput
CHECK, CHECKS = "check", 20_000


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


def request_scope(body: bytes, token: str | None) -> dict:
    """The ASGI scope of one prediction request, as uvicorn hands it to the app."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def serve_block(app: ServeApp, body: bytes, token: str | None, requests: int) -> float:
    """CPU seconds this process spent answering `requests` predictions, 64 at a time."""
    scope = request_scope(body, token)
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


def check_block(guard: Guard, scope: dict, checks: int) -> float:
    """CPU seconds of `checks` token checks of a prediction request, the decision cached: all
    that auth adds to a request (the header is decoded anew each time, as for a request)."""
    need = NEEDS[V1_PREDICT]
    began = time.process_time()
    for _ in range(checks):
        guard.check(scope, need, "digits")
    return time.process_time() - began


async def measure(body: bytes, token: str, rounds: int, requests: int) -> dict[object, list[float]]:
    """{(cache, auth): [CPU microseconds a request, a round], CHECK: [microseconds a check]}"""
    store = get_store()
    apps = {
        (cache, auth): ServeApp(
            ServeSettings(("digits@production",), cache_entries=10_000 if cache else 0, auth=auth),
            store,
        )
        for cache in (True, False)
        for auth in (False, True)
    }
    per_request: dict[object, list[float]] = {key: [] for key in [*apps, CHECK]}
    check_scope = request_scope(body, token)
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
            spent = check_block(apps[True, True].guard, check_scope, CHECKS)
            per_request[CHECK].append(spent / CHECKS * 1e6)
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
    checks = per_request[CHECK]
    rows, verdicts = [], []
    for cache in (True, False):
        off, on = per_request[cache, False], per_request[cache, True]
        measured = _spread([o / a for o, a in zip(off, on, strict=True)])
        # Auth adds the check to a request and nothing else: auth off's time plus the check's.
        derived = _spread([o / (o + c) for o, c in zip(off, checks, strict=True)])
        label = "cache on" if cache else "cache off"
        for auth, samples in ((False, off), (True, on)):
            rows.append(
                [
                    f"cairn's app, batching on, {label}, auth {'on' if auth else 'off'}",
                    *_cpu(samples),
                    measured.text if auth else "",
                    derived.text if auth else "",
                ]
            )
        verdicts.append(
            f"{label}: auth on keeps {derived.median:.1%} of auth off's throughput, from the "
            f"check's cost ({derived.low:.1%} to {derived.high:.1%} over the rounds; measured "
            f"side by side: {measured.median:.1%}, {measured.low:.1%} to {measured.high:.1%}): "
            + ("met" if derived.median >= TARGET else "NOT met")
        )
    rows.append(["the token check alone (Guard.check, decision cached)", *_cpu(checks), "", ""])
    notes = (
        f"{rounds} rounds of {requests} requests an app, {CONCURRENCY} at a time, each "
        '`{"inputs": [[64 floats]]}` (one digits row) to POST /v1/models/digits/predict of a '
        "`cairn.serve.app.ServeApp`, the app `cairn serve` runs, called as ASGI with no socket; "
        "auth on: `ServeSettings(auth=True)` (`cairn serve --auth`), every request with "
        "`Authorization: Bearer TOKEN`, a token from `cairn.auth.grant` allowing "
        "predict:model/digits. CPU us = this process's CPU time a request, median over the "
        "rounds; spread = its slowest round over its fastest; req/s a core = 1 / CPU time; "
        "x auth off, measured = auth off's CPU time a request over auth on's in the same round "
        "(the throughput auth keeps), median and range over the rounds; x auth off, from the "
        "check = auth off's time over auth off's plus one token check's, both in the same "
        f"round ({CHECKS:,} checks of the request's scope on the auth-on app's guard): "
        "all that auth adds to a request is that check (`ServeApp._predict_v1`), and it is "
        "small against the blocks' noise (other apps' background threads, the collector), "
        "which the side-by-side ratio carries whole.\n\n"
        "Target (issue 13: throughput with auth on at most 10 % below auth off): "
        + "; ".join(verdicts)
        + "."
    )
    report(
        "auth_cost",
        "What a token check costs a prediction: CPU time a request, cairn serve's app with "
        "auth off and on, in one process",
        [
            "app",
            "CPU us a request",
            "spread",
            "req/s a core",
            "x auth off, measured",
            "x auth off, from the check",
        ],  # fmt: skip
        rows,
        notes,
    )


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @property
    def text(self) -> str:
        return f"{self.median:.3f}x ({self.low:.3f}-{self.high:.3f})"


def _spread(values: list[float]) -> Spread:
    return Spread(statistics.median(values), min(values), max(values))


def _cpu(samples: list[float]) -> list[str]:
    """A row's CPU us a request, spread and requests a second a core."""
    median = statistics.median(samples)
    return [f"{median:,.2f}", f"{max(samples) / min(samples):.2f}", f"{1e6 / median:,.0f}"]


if __name__ == "__main__":
    main()
