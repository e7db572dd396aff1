"""`cairn runs ls|show|diff`."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import fields
from pathlib import Path

import typer
from rich.syntax import Syntax
from rich.text import Text

from cairn.cli.output import (
    Cell,
    Column,
    ColumnsOption,
    Fit,
    console,
    duration,
    number,
    pairs,
    print_json,
    print_table,
    size,
    status,
    when,
)
from cairn.tracking import RunRecord, get_run, search_runs
from cairn.tracking.filter import tokenize

app = typer.Typer(help="List, inspect and compare runs.", no_args_is_help=True)


def record_json(run: RunRecord) -> dict:
    return {f.name: getattr(run, f.name) for f in fields(run) if f.name != "store"}


@app.command("ls")
def list_runs(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    filter: str = typer.Option(
        None, "--filter", "-f", help='e.g. "params.C > 0.1 and metrics.acc >= 0.9"'
    ),
    sort: list[str] = typer.Option(None, "--sort", "-s", help='e.g. "metrics.acc desc"'),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    columns: ColumnsOption = None,
) -> None:
    """Runs with their params and latest metrics, newest first.

    Columns: id, experiment, name, status, started, took, params (all of them), params.KEY
    and metrics.KEY. What does not fit the terminal is hidden, timings first, and named
    below the table.
    """
    runs = search_runs(experiment, filter, sort, limit=limit)
    if as_json:
        print_json([record_json(r) for r in runs])
        return
    print_table(
        f"{len(runs)} run(s)" + (f" in {experiment}" if experiment else ""),
        _run_columns(runs, all_experiments=not experiment, mentioned=_metrics_in(filter, sort)),
        [_run_row(r) for r in runs],
        chosen=columns,
        choosable=True,
    )
    if runs:
        console.print(
            "[dim]ids are shortened; any unique suffix or prefix works, "
            "e.g. `cairn runs show ID`[/]"
        )


# What a metric's name says about it: one measured on held-out data is what runs are
# compared by; one named like a duration describes the machine more than the model, as
# `took` does.
_HELD_OUT = re.compile(r"^(val|valid|validation|test|eval|holdout)(_|$)|_(val|test|eval)$")
_TIMING = re.compile(r"(seconds|secs|_s|_ms|time|duration|elapsed)$")


def _run_columns(
    runs: list[RunRecord], *, all_experiments: bool, mentioned: list[str]
) -> list[Column]:
    """Every column `runs ls` can show, ranked by what should stay longest: id, name,
    status, the leading metrics (those sorted or filtered by, else the first of the
    others), params, experiment, the other metrics, `took` and `started`. Other metrics go held-out
    ones first and timings last, then by how many runs have them."""
    seen = Counter(k for r in runs for k in r.metrics)
    others = sorted(
        (k for k in seen if k not in mentioned),
        key=lambda k: (-bool(_HELD_OUT.search(k)), bool(_TIMING.search(k)), -seen[k], k),
    )
    leading = [k for k in mentioned if k in seen] or others[:1]
    by_importance = [
        "id",
        "name",
        "status",
        *(f"metrics.{k}" for k in leading),
        "params",
        "experiment",
        *(f"metrics.{k}" for k in others if k not in leading),
        "took",
        "started",
    ]
    rank = {key: i for i, key in enumerate(by_importance)}
    listed = [
        Column("id", rank["id"]),
        *([Column("experiment", rank["experiment"], Fit.CLIP)] if all_experiments else []),
        Column("name", rank["name"], Fit.CLIP),
        Column("status", rank["status"]),
        Column("started", rank["started"]),
        Column("took", rank["took"]),
        Column("params", rank["params"], Fit.WRAP, style="magenta"),
    ]
    for key in leading + sorted(k for k in seen if k not in leading):
        listed.append(
            Column(f"metrics.{key}", rank[f"metrics.{key}"], header=key, justify="right",
                   style="cyan")
        )  # fmt: skip
    for key in sorted({k for r in runs for k in r.params}):
        listed.append(
            Column(f"params.{key}", len(by_importance), header=key, style="magenta",
                   default=False)
        )  # fmt: skip
    return listed


def _run_row(run: RunRecord) -> dict[str, Cell]:
    return {
        "id": run.id[-8:],
        "experiment": run.experiment,
        "name": run.name,
        "status": status(run.status),
        "started": when(run.started, short=True),
        "took": duration(run.duration),
        "params": pairs(run.params),
        **{f"metrics.{k}": number(v) for k, v in run.metrics.items()},
        **{f"params.{k}": number(v) for k, v in run.params.items()},
    }


def _metrics_in(filter: str | None, sort: list[str] | None) -> list[str]:
    """The metrics a listing is sorted by, then those it is filtered by."""
    keys = []
    for text in [*(sort or []), filter or ""]:
        for token in tokenize(text):
            section, _, name = token.text.partition(".")
            if token.kind == "field" and section in ("metrics", "metric"):
                keys.append(name.strip("`"))
    return list(dict.fromkeys(keys))


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix/suffix)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A run's params, metrics summary, artifacts, environment and code."""
    run = get_run(run_id)
    env, code = run.environment() or {}, run.code()
    if as_json:
        print_json(
            {
                **record_json(run),
                "environment": env,
                "code": code,
                "artifacts": [vars(a) for a in run.artifacts()],
            }
        )
        return
    console.print(
        Text.assemble((f"{run.experiment}/{run.name}", "bold"), f" {run.id} ", status(run.status))
    )
    console.print(
        f"started {when(run.started)}, took {duration(run.duration)}, by {run.user} "
        f"on {run.host}" + (f", child of {run.parent_id}" if run.parent_id else "")
    )
    console.print(f"command: {run.command}", markup=False)  # the user's text, not markup
    _key_values("params", {k: number(v) for k, v in run.params.items()})
    _key_values("tags", run.tags)
    rows = []
    for key in sorted(run.metrics):
        values = [v for _, v, _ in run.metric_history(key)]
        finite = [v for v in values if v == v]
        rows.append(
            {
                "key": key,
                "last": number(run.metrics[key]),
                "count": str(len(values)),
                "min": number(min(finite)) if finite else "-",
                "max": number(max(finite)) if finite else "-",
            }
        )
    _section(
        "metrics",
        [
            Column("key", 0, Fit.CLIP),
            Column("last", 1, justify="right"),
            Column("min", 2, justify="right"),
            Column("max", 2, justify="right"),
            Column("count", 3, justify="right"),
        ],
        rows,
    )
    _section(
        "artifacts",
        [
            Column("name", 0, Fit.CLIP),
            Column("version", 1, justify="right"),
            Column("kind", 2),
            Column("digest", 3),
        ],
        [
            {"name": a.name, "version": str(a.version), "kind": a.kind, "digest": a.digest[:16]}
            for a in run.artifacts()
        ],
    )
    if env:
        console.print(
            f"[bold]environment[/]: Python {env.get('python')} on "
            f"{env.get('os', {}).get('platform')}, {env.get('cpu', {}).get('logical')} "
            f"CPUs ({env.get('cpu', {}).get('model')}), "
            f"{size(env.get('memory_bytes', 0))} RAM, "
            f"{len(env.get('packages', {}))} packages, GPUs: {env.get('gpus') or 'none'}"
        )
    if code:
        console.print(
            f"[bold]code[/]: {code['repo']} @ {code.get('branch')} "
            f"{(code.get('commit') or 'no commit')[:12]}"
            + (" [yellow](uncommitted changes)[/]" if code.get("dirty") else "")
        )
    else:
        console.print("[bold]code[/]: not in a git checkout")
    if run.error:
        console.print("[bold red]error[/]")
        console.print(run.error, markup=False, highlight=False)


def _key_values(title: str, values: dict[str, str]) -> None:
    """A two-column table; a value wraps between its words, never inside one."""
    rows = [{"key": k, "value": tuple(str(v).split())} for k, v in sorted(values.items())]
    _section(title, [Column("key", 0, Fit.CLIP), Column("value", 0, Fit.WRAP)], rows)


def _section(title: str, columns: list[Column], rows: list[dict[str, Cell]]) -> None:
    if rows:
        print_table(title, columns, rows)


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="First run."),
    b: str = typer.Argument(..., help="Second run."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What differs between two runs: params, metrics, packages and code."""
    ra, rb = get_run(a), get_run(b)
    env_a, env_b = ra.environment() or {}, rb.environment() or {}
    packages = _changed(env_a.get("packages", {}), env_b.get("packages", {}))
    code_a, code_b = ra.code() or {}, rb.code() or {}
    result = {
        "params": _changed(ra.params, rb.params),
        "metrics": _changed(ra.metrics, rb.metrics),
        "packages": packages,
        "python": _changed({"python": env_a.get("python")}, {"python": env_b.get("python")}),
        "commit": [code_a.get("commit"), code_b.get("commit")],
        "code_diff": _code_diff(code_a, code_b),
    }
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]{ra.id}[/] ({ra.name}) vs [bold]{rb.id}[/] ({rb.name})")
    for section in ("params", "metrics", "python", "packages"):
        changed = result[section]
        if not changed:
            console.print(f"{section}: [green]same[/]")
            continue
        print_table(
            section,
            [
                Column("key", 0, Fit.CLIP),
                Column("a", 0, Fit.WRAP, header=ra.id[-10:]),
                Column("b", 0, Fit.WRAP, header=rb.id[-10:]),
            ],
            [
                {"key": key, "a": _shown(va), "b": _shown(vb)}
                for key, (va, vb) in sorted(changed.items())
            ],
        )
    if result["code_diff"]:
        console.print("[bold]code[/]")
        console.print(Syntax(result["code_diff"], "diff"))
    else:
        console.print("code: [green]same[/]")


def _shown(value: object) -> tuple[str, ...]:
    return ("-",) if value is None else tuple(number(value).split())


def _changed(a: dict, b: dict) -> dict[str, list]:
    return {
        k: [a.get(k), b.get(k)]
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k) and not (a.get(k) != a.get(k) and b.get(k) != b.get(k))
    }


def _code_diff(a: dict, b: dict) -> str:
    """How b's code differs from a's: the commits, then the uncommitted changes."""
    lines = []
    if a.get("commit") != b.get("commit"):
        lines.append(f"# commit {a.get('commit')} -> {b.get('commit')}\n")
    if a.get("diff", "") != b.get("diff", ""):
        lines.extend(
            difflib.unified_diff(
                a.get("diff", "").splitlines(keepends=True),
                b.get("diff", "").splitlines(keepends=True),
                "a/uncommitted.diff",
                "b/uncommitted.diff",
            )
        )
    return "".join(lines)


@app.command("reproduce")
def reproduce_command(
    run_id: str = typer.Argument(..., help="The run (its root run is re-run)."),
    force: bool = typer.Option(
        False, "--force", help="Reproduce even if packages or untracked files differ."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary worktree."),
) -> None:
    """Re-create a run's code (git worktree + its diff), re-run its command, compare digests."""
    from cairn.reproduce import reproduce

    result = reproduce(run_id, force=force, keep=keep)
    if result.package_changes:
        console.print(f"[yellow]{len(result.package_changes)} package(s) differ (--force)[/]")
    if result.untracked_changes:
        changed = ", ".join(f"{c.path} ({c.state})" for c in result.untracked_changes)
        console.print(
            f"{len(result.untracked_changes)} untracked file(s) missing or changed (--force): "
            f"{changed}",
            style="yellow",
            markup=False,
        )
    if result.reproduced is None:
        console.print(f"[red]the command exited with {result.returncode} and made no run[/]")
        raise typer.Exit(1)
    print_table(
        f"{result.original.id} reproduced as {result.reproduced.id}",
        [
            Column("artifact", 0, Fit.CLIP),
            Column("same", 1),
            Column("original", 2),
            Column("reproduced", 2),
        ],
        [
            {
                "artifact": c.key,
                "original": (c.original or "-")[:12],
                "reproduced": (c.reproduced or "-")[:12],
                "same": Text("yes", "green") if c.matches else Text("no", "red"),
            }
            for c in result.comparisons
        ],
    )
    if not result.identical:
        console.print("[red]the reproduction differs[/]")
        raise typer.Exit(1)
    console.print("[green]every artifact's digest matches[/]")


@app.command("export")
def export_command(
    run_id: str = typer.Argument(..., help="The run whose environment to write out."),
    dockerfile: Path = typer.Option(..., "--dockerfile", help="Folder to write into."),
) -> None:
    """Write a Dockerfile, pinned requirements and a DLSpec-style spec.yaml for a run."""
    from cairn.reproduce import export

    for path in export(run_id, dockerfile):
        console.print(f"wrote {path}")
