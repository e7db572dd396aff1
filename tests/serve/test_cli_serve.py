"""`cairn serve` as a user starts it: worker processes on one port, metrics summed across
them, refusals before starting, and SIGTERM answering what is in flight before exiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from cairn import models
from tests.conftest import ROOT
from tests.serve.serving import X, register_digits
from tests.serve.test_server import metric


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cairn_serve(*args: str, cwd: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn", "serve", *args, "--port", str(port)],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # readiness is the server's answer; the loop only bounds the wait
            if process.poll() is not None:
                raise AssertionError(f"cairn serve exited: {process.stdout.read()}")
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("cairn serve did not get ready")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        process.stdout.close()


def test_two_workers_share_the_port_and_metrics_sum_across_them(workspace: Path) -> None:
    models.set_alias("digits", "production", register_digits().version)
    with cairn_serve("digits@production", "--workers", "2", cwd=workspace) as (url, _):
        for i in range(40):  # a new connection each: the kernel spreads them over workers
            answer = httpx.post(f"{url}/v1/models/digits/predict",
                                json={"inputs": [X[i].tolist()]})  # fmt: skip
            assert answer.status_code == 200
        counts = [metric(httpx.get(f"{url}/metrics").text, "cairn_serve_requests_total",
                         model="digits", endpoint="v1") for _ in range(6)]  # fmt: skip
    assert set(counts) == {40.0}  # whichever worker answers GET /metrics sees all of them


class Announcing:
    """Touches `marker` when it starts predicting a row of 7s, then takes a second."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def predict(self, rows):
        rows = np.asarray(rows)
        if (rows == 7).all():
            Path(self.marker).touch()
            time.sleep(1.0)  # the model's own cost: the request is in flight meanwhile
        return rows[:, 0]


def test_sigterm_answers_the_request_in_flight_then_exits(workspace: Path) -> None:
    marker = workspace / "predicting"
    models.register("slow", Announcing(str(marker)), owner="ml", example=np.ones((1, 1)))
    with cairn_serve("slow@latest", "--slo-ms", "5000", "--cache", "0", cwd=workspace) as (
        url,
        process,
    ):
        answers: list[httpx.Response] = []
        sent = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{url}/v1/models/slow/predict", json={"inputs": [[7.0]]}, timeout=30
                )  # fmt: skip
            )
        )
        sent.start()
        deadline = time.monotonic() + 30
        while not marker.exists():  # the model has the request: it is in flight
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        sent.join(30)
        # Uvicorn re-raises the signal once it has shut down, so the exit says what ended it.
        assert process.wait(30) in (0, -signal.SIGTERM)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["predictions"] == [7.0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nope@production"], "no model 'nope'"),
        (["digits@staging"], "no alias 'staging'"),
        (["digits@production", "--route", "digits=split:x"], "bad route"),
        (["digits@production", "--sample", "2"], "sample"),
    ],
)
def test_bad_settings_are_refused_before_starting(workspace: Path, args, says) -> None:
    models.set_alias("digits", "production", register_digits().version)
    out = subprocess.run([sys.executable, "-m", "cairn", "serve", *args, "--port", "0"],
                         cwd=workspace, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode != 0
    assert says in out.stderr + out.stdout
