"""`cairn tune ls|show`: hyperparameter searches and their trials."""

from __future__ import annotations

import typer

from cairn.cli.output import (
    Column,
    ColumnsOption,
    Fit,
    console,
    duration,
    number,
    pairs,
    print_json,
    print_table,
    status,
    when,
)
from cairn.errors import NotFoundError
from cairn.states import Direction, TrialState
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
        **{
            state.value: result.count(state)
            for state in (
                TrialState.COMPLETED,
                TrialState.PRUNED,
                TrialState.FAILED,
                TrialState.RUNNING,
            )
        },
        "best_value": best.value if best else None,
        "best_params": best.params if best else None,
        "best_run": best.run_id if best else None,
        "created": study.created,
    }


@app.command("ls")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    columns: ColumnsOption = None,
) -> None:
    """Every study (its latest version) with its trial counts and best value."""
    store = get_store(create=False)
    summaries = [_summary(load_result(store, s.name, s.version)) for s in list_studies(store)]
    if as_json:
        print_json(summaries)
        return
    print_table(
        f"{len(summaries)} stud{'y' if len(summaries) == 1 else 'ies'}",
        [
            Column("study", 0),  # whole: it is what `tune show` takes
            Column("metric", 1),
            Column("search", 5),
            Column("trials", 4, Fit.WRAP),
            Column("best", 2, justify="right"),
            Column("params", 3, Fit.WRAP, style="magenta"),
            Column("created", 6),
        ],
        [
            {
                "study": s["name"] + (f" v{s['version']}" if s["version"] > 1 else ""),
                "metric": f"{s['metric']} {s['mode']}",
                "search": f"{s['sampler']}+{s['scheduler']}",
                "trials": (f"{s['trials']} ({s['pruned']} pruned,", f"{s['failed']} failed)"),
                "best": "-" if s["best_value"] is None else number(s["best_value"]),
                "params": pairs(s["best_params"] or {}),
                "created": when(s["created"], short=True),
            }
            for s in summaries
        ],
        chosen=columns,
        choosable=True,
    )
    if not summaries:
        console.print("no studies yet: run one with cairn.tune(objective, space, metric, mode)")


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help="The study's name."),
    version: int = typer.Option(None, "--version", "-v", help="An older version of it."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many trials."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    columns: ColumnsOption = None,
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
    print_table(
        f"trials of {name}, best first",
        [
            Column("#", 1, justify="right"),
            Column("run", 2, justify="right"),
            Column("state", 3),
            Column("value", 0, justify="right"),
            Column("steps", 5, justify="right"),
            Column("took", 6, justify="right"),
            Column("params", 4, Fit.WRAP, style="magenta"),
        ],
        [
            {
                "#": str(r.number),
                "run": r.run_id[-8:],
                "state": status(r.state),
                "value": "-" if r.value is None else number(r.value),
                "steps": str(len(r.curve)),
                "took": duration(r.duration),
                "params": pairs(r.params),
            }
            for r in ranked[:limit]
        ],
        chosen=columns,
        choosable=True,
    )
    if len(ranked) > limit:
        console.print(f"{len(ranked) - limit} more: --limit {len(ranked)}")
    if summary["best_run"]:
        console.print(f"best run: `cairn runs show {summary['best_run'][-8:]}`")


def _ranked(result: TuneResult) -> list:
    """Completed trials best first, then pruned by their last value, then the rest."""
    sign = -1 if result.study.mode is Direction.MAX else 1
    order = {TrialState.COMPLETED: 0, TrialState.PRUNED: 1}
    return sorted(
        result.records,
        key=lambda r: (
            order.get(r.state, 2),
            sign * r.value if r.value is not None else 0.0,
            r.number,
        ),
    )
