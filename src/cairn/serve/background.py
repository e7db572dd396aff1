"""A server in a thread of this process, on a loopback port of its own: for `cairn demo` and
notebooks, where starting `cairn serve` as another process is more than the job needs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from cairn.errors import CairnError
from cairn.serve.app import ServeApp
from cairn.serve.settings import ServeSettings

STARTUP_SECONDS = 120  # loading and warming every model


class _Server(uvicorn.Server):
    """Uvicorn that says when its lifespan startup (loading the models) is done."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.up.set()

    def install_signal_handlers(self) -> None:  # not the main thread: the process keeps its own
        pass


@contextmanager
def serving(settings: ServeSettings, host: str = "127.0.0.1") -> Iterator[str]:
    """`settings` served until the block ends; yields the server's base URL once every
    model is loaded."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    config = uvicorn.Config(ServeApp(settings), log_level="warning", lifespan="on")
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not server.up.wait(STARTUP_SECONDS) or not server.started:
            raise CairnError(f"the server for {', '.join(settings.models)} did not start")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
