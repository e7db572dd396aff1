"""Test helpers: a registered digits model and a real server on a loopback socket."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import uvicorn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from cairn import models
from cairn.serve.app import ServeApp
from cairn.serve.settings import ServeSettings

DIGITS = load_digits()
X = DIGITS.data.astype(np.float64)
Y = DIGITS.target


def digits_model(c: float = 1.0, iterations: int = 200) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=iterations).fit(X[:600], Y[:600])


def register_digits(c: float = 1.0, owner: str = "ml") -> models.ModelVersion:
    return models.register("digits", digits_model(c), owner=owner, example=X[:4])


class _Server(uvicorn.Server):
    """Uvicorn that says when its lifespan startup (loading the models) is done."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.up.set()

    def install_signal_handlers(self) -> None:  # the test's thread is not the main one
        pass


@contextmanager
def running(settings: ServeSettings, app: ServeApp | None = None) -> Iterator[str]:
    """A server for `settings` on 127.0.0.1 (a port of its own), until the block ends."""
    with listening(app or ServeApp(settings)) as url:
        yield url


@contextmanager
def listening(app: object) -> Iterator[str]:
    """Any ASGI app on 127.0.0.1 (a port of its own) once its lifespan started, until the
    block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=10)  # fmt: skip
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not server.up.wait(120) or not server.started:
            raise AssertionError("the server did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def run(coroutine):
    return asyncio.run(coroutine)
