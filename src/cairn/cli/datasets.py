"""`cairn datasets ls|history|diff|add`."""

from __future__ import annotations

from pathlib import Path

import typer

from cairn import datasets
from cairn.cli.output import (
    Column,
    ColumnsOption,
    Fit,
    console,
    print_json,
    print_table,
    size,
    when,
)

app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)


def _summary(meta: dict) -> tuple[str, ...]:
    """What a version holds, in tokens a table column may wrap between."""
    s = meta.get("summary", {})
    if s.get("type") == "frame":
        return ("frame", f"{s['rows']:,} rows", f"x {len(s['columns'])} cols")
    if s.get("type") == "array":
        return ("array", s["dtype"], str(tuple(s["shape"])))
    if s.get("type") == "files":
        return (f"{s['files']} file(s),", size(s["bytes"]))
    return (s.get("type", ""),)


@app.command("ls")
def list_command(
    as_json: bool = typer.Option(False, "--json"), columns: ColumnsOption = None
) -> None:
    """Every dataset with its latest version."""
    found = datasets.list_datasets()
    if as_json:
        print_json(
            [{"name": d.name, "versions": d.versions, "latest": vars(d.latest)} for d in found]
        )
        return
    print_table(
        f"{len(found)} dataset(s)",
        [
            Column("name", 0),  # whole: it is what `datasets history` takes
            Column("versions", 4, justify="right"),
            Column("latest", 1),
            Column("created", 5),
            Column("content", 2, Fit.WRAP),
            Column("description", 3, Fit.WRAP),
        ],
        [
            {
                "name": d.name,
                "versions": str(d.versions),
                "latest": f"v{d.latest.version}",
                "created": when(d.latest.created, short=True),
                "content": _summary(d.latest.meta),
                "description": d.latest.meta.get("description", ""),
            }
            for d in found
        ],
        chosen=columns,
        choosable=True,
    )


@app.command("history")
def history_command(
    name: str, as_json: bool = typer.Option(False, "--json"), columns: ColumnsOption = None
) -> None:
    """Every version of a dataset, oldest first."""
    versions = datasets.history(name)
    if as_json:
        print_json([vars(v) for v in versions])
        return
    print_table(
        f"{name}: {len(versions)} version(s)",
        [
            Column("version", 0, justify="right"),
            Column("created", 3),
            Column("run", 4),
            Column("content", 1, Fit.WRAP),
            Column("digest", 5),
            Column("description", 2, Fit.WRAP),
        ],
        [
            {
                "version": str(v.version),
                "created": when(v.created, short=True),
                "run": (v.run_id or "-")[-8:],
                "content": _summary(v.meta),
                "digest": v.digest[:12],
                "description": v.meta.get("description", ""),
            }
            for v in versions
        ],
        chosen=columns,
        choosable=True,
    )


@app.command("diff")
def diff_command(
    name: str, v1: str, v2: str, as_json: bool = typer.Option(False, "--json")
) -> None:
    """How two versions differ: schema and rows, shape and statistics, or files."""
    result = datasets.diff(name, v1, v2)
    if as_json:
        print_json(result)
        return
    a, b = result["versions"]
    if result["same_content"]:
        console.print(f"{name} v{a} and v{b} hold the same content")
        return
    console.print(f"[bold]{name}[/] v{a} -> v{b}")
    for key, value in result.items():
        if key in ("versions", "same_content") or value in ({}, []):
            continue
        console.print(f"  {key}: {value}")


@app.command("add")
def add_command(
    name: str, path: Path, description: str = typer.Option(None, "--description", "-m")
) -> None:
    """Register a file or folder as the next version of NAME (unchanged content: no new version)."""
    ref = datasets.add(name, path, description=description)
    console.print(f"{name} v{ref.version}: {' '.join(_summary(ref.meta))} ({ref.digest[:12]})")
