"""`cairn step ls|invalidate`."""

from __future__ import annotations

import typer

from cairn.cli.output import Column, ColumnsOption, console, print_json, print_table, when
from cairn.pipeline import invalidate, summaries
from cairn.store import get_store

app = typer.Typer(help="Memoized pipeline steps.", no_args_is_help=True)


@app.command("ls")
def list_command(
    as_json: bool = typer.Option(False, "--json"), columns: ColumnsOption = None
) -> None:
    """Steps with cached results."""
    found = summaries(get_store(create=False))
    if as_json:
        print_json([vars(s) for s in found])
        return
    print_table(
        f"{len(found)} step(s)",
        [
            Column("step", 0),  # whole: it is what `step invalidate` takes
            Column("cached", 1, justify="right"),
            Column("computed", 2),
        ],
        [
            {
                "step": s.step,
                "cached": str(s.entries),
                "computed": when(s.last_computed, short=True),
            }
            for s in found
        ],
        chosen=columns,
        choosable=True,
    )


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
