"""`cairn predictions show|ls`: the sampled log of served predictions."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import typer

from cairn.cli.output import Column, ColumnsOption, console, print_json, print_table, when
from cairn.store import get_store

if TYPE_CHECKING:  # the serve extra is imported only by the commands that need it
    from cairn.serve.predictions import PredictionRecord

app = typer.Typer(
    help="Predictions `cairn serve` logged (a sample, 1 % by default): inputs, outputs, "
    "the model version that answered.",
    no_args_is_help=True,
)

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
SHOWN_CHARS = 2_000  # of inputs or outputs, before --json


@app.command("show")
def show_command(prediction_id: str, as_json: bool = JsonOption) -> None:
    """One prediction: model version, time, route, latency, inputs and outputs."""
    from cairn.serve.predictions import get_prediction

    record = get_prediction(get_store(create=False), prediction_id)
    if as_json:
        print_json(dataclasses.asdict(record))
        return
    flags = _flags(record)
    console.print(
        f"[bold]prediction {record.id}[/]  {record.name}/{record.version}"
        + (f"  [yellow]{flags}[/]" if flags else ""),
        highlight=False,
    )
    lines = {
        "time": when(record.ts),
        "route": record.route,
        "latency": _latency(record.latency_ms),
        "inputs": _clipped(record.inputs),
        "outputs": _clipped(record.outputs),
    }
    for key, value in lines.items():
        console.print(f"  {key:<9}{value}", highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"[dim]where it came from: `cairn lineage {record.id}`; "
        f"the model version: `cairn models show {record.name} {record.version}`[/]",
        highlight=False,
    )


@app.command("ls")
def list_command(
    model: str = typer.Option(None, "--model", "-m", help="Only this model's predictions."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOption,
    columns: ColumnsOption = None,
) -> None:
    """The newest logged predictions."""
    from cairn.serve.predictions import list_predictions

    found = list_predictions(get_store(create=False), name=model, limit=limit)
    if as_json:
        print_json([dataclasses.asdict(r) for r in found])
        return
    print_table(
        f"{len(found)} prediction(s)" + (f" of {model}" if model else ""),
        [
            Column("id", 0),
            Column("model", 1),
            Column("time", 2),
            Column("latency", 3, justify="right"),
            Column("route", 4),
            Column("flags", 5),
        ],
        [_row(r) for r in found],
        chosen=columns,
        choosable=True,
    )


def _row(record: PredictionRecord) -> dict[str, str]:
    return {
        "id": record.id,
        "model": f"{record.name}/{record.version}",
        "time": when(record.ts, short=True),
        "latency": _latency(record.latency_ms),
        "route": record.route,
        "flags": _flags(record) or "-",
    }


def _flags(record: PredictionRecord) -> str:
    """`shadow`: a candidate's answer, never returned; `default`: the straggler answer."""
    return " ".join(f for f, on in (("shadow", record.shadow), ("default", record.fallback)) if on)


def _latency(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.2f} ms"


def _clipped(value: object) -> str:
    text = json.dumps(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}… ({len(text)} characters: --json shows all)"
