"""`cairn step ls|invalidate`."""

from __future__ import annotations

import typer
from rich.table import Table

from cairn.cli.output import console, print_json, when
from cairn.pipeline import invalidate, summaries
from cairn.store import get_store

app = typer.Typer(help="Memoized pipeline steps.", no_args_is_help=True)


@app.command("ls")
def list_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Steps with cached results."""
    found = summaries(get_store(create=False))
    if as_json:
        print_json([vars(s) for s in found])
        return
    table = Table(title=f"{len(found)} step(s)")
    for column in ("step", "cached results", "last computed"):
        table.add_column(column)
    for s in found:
        table.add_row(s.step, str(s.entries), when(s.last_computed))
    console.print(table)


@app.command("invalidate")
def invalidate_command(name: str) -> None:
    """Forget a step's cached results: its next call runs the body again."""
    removed = invalidate(get_store(create=False), name)
    if not removed:
        console.print(f"step {name!r} has no cached results (`cairn step ls` lists steps)")
        raise typer.Exit(1)
    console.print(
        f"forgot {removed} cached result(s) of {name}; their artifacts stay until `cairn gc`"
    )
