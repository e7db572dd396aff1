"""Starting the server: N worker processes, each running Uvicorn (uvloop, httptools) on its
own socket bound to the one port with SO_REUSEPORT.

Uvicorn's own `--workers` shares one listening socket between its processes, and the first
process to wake takes connection after connection: under load most of them landed on one
worker. With a socket each, the kernel spreads connections over the workers by hash.

The settings travel to the workers in the environment, with the workspace's URLs, so every
worker opens the same store wherever it starts. SIGTERM (or Ctrl-C) reaches every worker:
each stops accepting, lets the requests in flight finish, drains its batchers and flushes
its prediction log.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile

from cairn.config import find_workspace
from cairn.errors import InvalidValueError
from cairn.models.versions import get_version
from cairn.serve.metrics import MULTIPROC_ENV
from cairn.serve.settings import ServeSettings
from cairn.store import get_store

GRACEFUL_SHUTDOWN_S = 30


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(settings: ServeSettings) -> None:
    """Refuse before starting anything: bad settings, a model or alias that does not exist."""
    store = get_store(create=False)
    for ref in settings.refs():
        get_version(ref, store=store)


def bind(host: str, port: int) -> socket.socket:
    """A socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidValueError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host"
        ) from None
    return sock


def serve(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    check(settings)
    workspace = find_workspace()
    metrics_dir = tempfile.mkdtemp(prefix="cairn-serve-metrics-")
    os.environ.update(settings.to_env())
    os.environ["CAIRN_STORE"] = workspace.store_url
    os.environ["CAIRN_BLOBS"] = workspace.blobs_url
    os.environ[MULTIPROC_ENV] = metrics_dir
    # Held, never listened on: it fixes the port (when 0 was asked) for the workers' sockets.
    anchor = bind(host, port)
    port = anchor.getsockname()[1]
    try:
        if workers == 1:
            _worker(host, port, log_level)
        else:
            _supervise(host, port, workers, log_level)
    finally:
        anchor.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker: Uvicorn on its own socket, until SIGTERM or Ctrl-C."""
    import uvicorn

    from cairn.serve.app import create_app

    sock = bind(host, port)
    config = uvicorn.Config(
        create_app,
        factory=True,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        # Not behind a proxy by default: no X-Forwarded-* rewriting on every request.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _supervise(host: str, port: int, workers: int, log_level: str) -> None:
    """Start the workers, pass SIGTERM on to them, wait for all of them. Ctrl-C reaches the
    workers from the terminal itself (one process group): passing it on as well would be a
    second signal, which makes Uvicorn quit without waiting for requests in flight."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(host, port, log_level), name=f"cairn-serve-{i}")
        for i in range(workers)
    ]

    def stop(signum: int, frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, stop),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
    }
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
