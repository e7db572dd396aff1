"""Starting the server: Uvicorn (uvloop, httptools) with N worker processes on one port.

The settings travel to the workers in the environment, with the workspace's URLs, so every
worker opens the same store wherever it starts. SIGTERM (or Ctrl-C) stops accepting, lets
the requests in flight finish, drains the batchers and flushes the prediction log.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile

from cairn.config import find_workspace
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


def serve(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    import uvicorn

    check(settings)
    workspace = find_workspace()
    metrics_dir = tempfile.mkdtemp(prefix="cairn-serve-metrics-")
    os.environ.update(settings.to_env())
    os.environ["CAIRN_STORE"] = workspace.store_url
    os.environ["CAIRN_BLOBS"] = workspace.blobs_url
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            "cairn.serve.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
