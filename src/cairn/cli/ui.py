"""`cairn ui`."""

from __future__ import annotations

import typer

from cairn.cli.output import console, errors


def ui_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback)."),
    port: int = typer.Option(5173, "--port", min=0, max=65535),
    endpoint: list[str] = typer.Option(
        [], "--endpoint", help="URL of a running `cairn serve` whose /metrics to show."
    ),
    auth: bool = typer.Option(
        False, "--auth", help="Require a token (header or sign-in) on all but liveness."
    ),
) -> None:
    """Serve the web UI: runs, metrics, lineage, datasets, studies, models, endpoints."""
    import uvicorn

    from cairn.config import find_workspace
    from cairn.serve.server import is_loopback
    from cairn.store import get_store
    from cairn.ui import create_app

    find_workspace()  # no workspace: say how to make one before binding a port
    if auth:
        from cairn.auth import public_key

        public_key()  # no root key, no token can pass: refuse now
    elif not is_loopback(host):
        errors.print(
            f"[yellow]warning:[/] the UI on {host}, not loopback, without --auth: anyone who "
            "can reach this address can read this workspace",
            highlight=False,
        )
    console.print(f"cairn ui on [bold]http://{host}:{port}/[/] (Ctrl+C stops it)")
    app = create_app(get_store(), endpoints=endpoint, auth=auth)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
