"""`cairn serve NAME@ALIAS ...`."""

from __future__ import annotations

import json

import typer

from cairn.cli.output import errors
from cairn.errors import InvalidValueError


def serve_command(
    models: list[str] = typer.Argument(..., help="What to serve: NAME@ALIAS or NAME/VERSION."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes on the one port."),
    slo_ms: float = typer.Option(20.0, "--slo-ms", min=0.1, help="Latency objective."),
    max_batch: int = typer.Option(512, "--max-batch", min=1, help="Largest batch, in rows."),
    no_batching: bool = typer.Option(False, "--no-batching", help="Predict each request alone."),
    cache: int = typer.Option(10_000, "--cache", min=0, help="Cached predictions (0: none)."),
    sample: float = typer.Option(
        0.01, "--sample", min=0.0, max=1.0, help="Share of predictions logged to the store."
    ),
    route: list[str] = typer.Option(
        [], "--route", help="NAME=SPEC: split:2=90,3=10 | shadow:4 | bandit:exp3:2,3."
    ),
    default: list[str] = typer.Option(
        [], "--default", help="NAME=JSON: the answer when a prediction misses the SLO."
    ),
    max_body: int = typer.Option(8 * 1024 * 1024, "--max-body", min=1, help="Body limit, bytes."),
    max_rows: int = typer.Option(10_000, "--max-rows", min=1, help="Rows a request may hold."),
    auth: bool = typer.Option(
        False, "--auth", help="Require `Authorization: Bearer TOKEN` on all but liveness."
    ),
) -> None:
    """Serve registry aliases over HTTP: v1, Open Inference Protocol v2, MLflow /invocations."""
    from cairn.serve.server import is_loopback, serve
    from cairn.serve.settings import ServeSettings

    settings = ServeSettings(
        models=tuple(models),
        slo_ms=slo_ms,
        max_batch=max_batch,
        batching=not no_batching,
        cache_entries=cache,
        sample=sample,
        routes=dict(_pair(text, "--route") for text in route),
        defaults={k: _json(v, k) for k, v in (_pair(text, "--default") for text in default)},
        max_body_bytes=max_body,
        max_rows=max_rows,
        auth=auth,
    )
    if auth:
        from cairn.auth import public_key

        public_key()  # refuse now, not in every worker: no root key, no token can pass
    elif not is_loopback(host):
        errors.print(
            f"[yellow]warning:[/] serving on {host}, not loopback, without --auth: anyone who "
            "can reach this address can query these models",
            highlight=False,
        )
    serve(settings, host=host, port=port, workers=workers)


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise InvalidValueError(f"{option} takes NAME=VALUE, got {text!r}")
    return name, value


def _json(text: str, name: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError(f"--default {name}=... is not JSON: {exc}") from None
