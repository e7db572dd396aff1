"""`cairn import mlflow SOURCE`."""

from __future__ import annotations

import dataclasses

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cairn.cli.output import console, errors, number, print_json

app = typer.Typer(help="Bring runs and models made with other tools into the workspace.",
                  no_args_is_help=True)  # fmt: skip


@app.command("mlflow")
def mlflow_command(
    source: str = typer.Argument(
        ...,
        help="An mlruns/ folder, an MLflow SQLite file, or a database URL "
        "(sqlite:///PATH, postgresql://USER@HOST/DB).",
    ),
    owner: str = typer.Option(
        None, "--owner", help="Owner of the registered models new to cairn (default: you)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was imported as JSON."),
) -> None:
    """Copy an MLflow tracking store into this workspace: experiments, runs (status, times,
    params, tags, every metric's history), artifacts, dataset inputs and registered models.
    Importing again adds only what is new; the source is only read."""
    from cairn.mlflow.importing import import_mlflow
    from cairn.store import get_store

    store = get_store(create=False)
    with _Bars() as bars:
        report = import_mlflow(source, store=store, owner=owner, progress=bars.update)
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    models = report.models
    console.print(
        f"imported from [bold]{report.source}[/] into {store.description}",
        highlight=False,
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_column(justify="right")
    summary.add_column()
    for label, value in [
        ("experiments made", number(report.experiments)),
        ("runs imported", number(report.runs)),
        ("runs refreshed", number(report.refreshed)),
        ("runs already here", number(report.unchanged)),
        ("metric points", number(report.metric_points)),
        ("artifact files", number(report.artifacts)),
        ("dataset inputs", number(report.dataset_inputs)),
        ("registered models", number(models.models)),
        ("model versions imported", number(models.versions)),
        ("model versions already here", number(models.unchanged)),
        ("aliases moved", number(models.aliases)),
    ]:
        summary.add_row(value, label)
    console.print(summary)
    for line in models.kept:
        console.print(f"[yellow]kept as files:[/] {line}", highlight=False)
    for line in models.not_moved:
        console.print(f"[yellow]alias not moved:[/] {line}", highlight=False)
    if report.renamed:
        shown = list(report.renamed.items())[:20]
        console.print(
            f"{len(report.renamed)} name(s) changed to fit cairn ('/' becomes '.'): "
            + ", ".join(f"{a} -> {b}" for a, b in shown)
            + (" ..." if len(report.renamed) > len(shown) else ""),
            highlight=False,
        )


class _Bars:
    """One Rich progress bar per stage of the import, on stderr (stdout stays for --json)."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=errors,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, stage: object, done: int, total: int | None) -> None:
        key = str(stage)
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = self.progress.add_task(key, total=total)
        self.progress.update(task, completed=done, total=total)
