"""`cairn tune ls|show`: hyperparameter searches and their trials."""

from __future__ import annotations

import typer
from rich.table import Table

from cairn.cli.output import console, duration, number, print_json, status, when
from cairn.errors import NotFoundError
from cairn.store import get_store
from cairn.tuning import TuneResult, list_studies, load_result

app = typer.Typer(
    help="Hyperparameter searches (cairn.tune) and their trials.", no_args_is_help=True
)


def _summary(result: TuneResult) -> dict:
    study = result.study
    try:
        best = result.best_trial
    except NotFoundError:
        best = None
    return {
        "name": study.name,
        "version": study.version,
        "metric": study.metric,
        "mode": study.mode,
        "sampler": study.sampler,
        "scheduler": study.scheduler,
        "trials": len(result.records),
        **{state: result.count(state) for state in ("completed", "pruned", "failed", "running")},
        "best_value": best.value if best else None,
        "best_params": best.params if best else None,
        "best_run": best.run_id if best else None,
        "created": study.created,
    }


@app.command("ls")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every study (its latest version) with its trial counts and best value."""
    store = get_store(create=False)
    summaries = [_summary(load_result(store, s.name, s.version)) for s in list_studies(store)]
    if as_json:
        print_json(summaries)
        return
    table = Table(title=f"{len(summaries)} stud{'y' if len(summaries) == 1 else 'ies'}")
    for column in ("study", "metric", "search", "trials", "best"):
        table.add_column(column, no_wrap=True, justify="right" if column == "best" else "left")
    table.add_column("best params", style="magenta", overflow="fold")
    table.add_column("created", no_wrap=True)
    for s in summaries:
        version = f" v{s['version']}" if s["version"] > 1 else ""
        table.add_row(
            s["name"] + version,
            f"{s['metric']} {s['mode']}",
            f"{s['sampler']}+{s['scheduler']}",
            f"{s['trials']} ({s['pruned']} pruned, {s['failed']} failed)",
            "-" if s["best_value"] is None else number(s["best_value"]),
            _params(s["best_params"] or {}),
            when(s["created"], short=True),
        )
    console.print(table)
    if not summaries:
        console.print("no studies yet: run one with cairn.tune(objective, space, metric, mode)")


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help="The study's name."),
    version: int = typer.Option(None, "--version", "-v", help="An older version of it."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many trials."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A study's settings and its trials, best first."""
    result = load_result(get_store(create=False), name, version)
    summary = _summary(result)
    ranked = _ranked(result)
    if as_json:
        trials = [
            {**{k: v for k, v in r.__dict__.items() if k != "distributions"}, "seconds": r.duration}
            for r in ranked
        ]
        print_json({**summary, "trials": trials})
        return
    console.print(
        f"[bold]{name}[/] v{summary['version']}: {summary['metric']} ({summary['mode']}), "
        f"sampler {summary['sampler']}, scheduler {summary['scheduler']}; "
        f"{summary['trials']} trial(s): {summary['completed']} completed, "
        f"{summary['pruned']} pruned, {summary['failed']} failed"
    )
    table = Table(title=f"trials of {name}, best first")
    for column in ("#", "run", "state", "value", "steps", "took"):
        table.add_column(column, no_wrap=True, justify="right" if column != "state" else "left")
    table.add_column("params", style="magenta", overflow="fold")
    for r in ranked[:limit]:
        table.add_row(
            str(r.number),
            r.run_id[-8:],
            status(r.state),
            "-" if r.value is None else number(r.value),
            str(len(r.curve)),
            duration(r.duration),
            _params(r.params),
        )
    console.print(table)
    if len(ranked) > limit:
        console.print(f"{len(ranked) - limit} more: --limit {len(ranked)}")
    if summary["best_run"]:
        console.print(f"best run: `cairn runs show {summary['best_run'][-8:]}`")


def _ranked(result: TuneResult) -> list:
    """Completed trials best first, then pruned by their last value, then the rest."""
    sign = -1 if result.study.mode == "max" else 1
    order = {"completed": 0, "pruned": 1}
    return sorted(
        result.records,
        key=lambda r: (
            order.get(r.state, 2),
            sign * r.value if r.value is not None else 0.0,
            r.number,
        ),
    )


def _params(params: dict) -> str:
    return " ".join(f"{k}={number(v)}" for k, v in sorted(params.items()))
