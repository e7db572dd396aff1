"""`cairn datasets ls|history|diff|add`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cairn import datasets
from cairn.cli.output import console, print_json, size, when

app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)


def _summary(meta: dict) -> str:
    s = meta.get("summary", {})
    if s.get("type") == "frame":
        return f"frame {s['rows']:,} rows x {len(s['columns'])} cols"
    if s.get("type") == "array":
        return f"array {s['dtype']} {tuple(s['shape'])}"
    if s.get("type") == "files":
        return f"{s['files']} file(s), {size(s['bytes'])}"
    return s.get("type", "")


@app.command("ls")
def list_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every dataset with its latest version."""
    found = datasets.list_datasets()
    if as_json:
        print_json(
            [{"name": d.name, "versions": d.versions, "latest": vars(d.latest)} for d in found]
        )
        return
    table = Table(title=f"{len(found)} dataset(s)")
    for column in ("name", "versions", "latest", "created", "content", "description"):
        table.add_column(column)
    for d in found:
        table.add_row(
            d.name,
            str(d.versions),
            f"v{d.latest.version}",
            when(d.latest.created),
            _summary(d.latest.meta),
            d.latest.meta.get("description", ""),
        )
    console.print(table)


@app.command("history")
def history_command(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every version of a dataset, oldest first."""
    versions = datasets.history(name)
    if as_json:
        print_json([vars(v) for v in versions])
        return
    table = Table(title=f"{name}: {len(versions)} version(s)")
    for column in ("version", "created", "by run", "content", "digest", "description"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.version),
            when(v.created),
            (v.run_id or "-")[-8:],
            _summary(v.meta),
            v.digest[:12],
            v.meta.get("description", ""),
        )
    console.print(table)


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
    console.print(f"{name} v{ref.version}: {_summary(ref.meta)} ({ref.digest[:12]})")
