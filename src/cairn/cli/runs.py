"""`cairn runs ls|show|diff`."""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

import typer
from rich.syntax import Syntax
from rich.table import Table

from cairn.cli.output import console, duration, number, print_json, size, status, when
from cairn.tracking import RunRecord, get_run, search_runs

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
) -> None:
    """Runs with their params and latest metrics, newest first."""
    runs = search_runs(experiment, filter, sort, limit=limit)
    if as_json:
        print_json([record_json(r) for r in runs])
        return
    metric_keys = sorted({k for r in runs for k in r.metrics})
    table = Table(title=f"{len(runs)} run(s)" + (f" in {experiment}" if experiment else ""))
    table.add_column("id", no_wrap=True)
    if not experiment:
        table.add_column("experiment")
    for column in ("name", "status", "started", "took"):
        table.add_column(column, no_wrap=True)
    table.add_column("params", style="magenta", ratio=1, overflow="fold")
    for key in metric_keys:
        table.add_column(key, style="cyan", justify="right", no_wrap=True)
    for r in runs:
        params = " ".join(f"{k}={number(v)}" for k, v in sorted(r.params.items()))
        table.add_row(
            r.id[-8:],
            *([] if experiment else [r.experiment]),
            r.name,
            status(r.status),
            when(r.started, short=True),
            duration(r.duration),
            params,
            *(number(r.metrics[k]) if k in r.metrics else "" for k in metric_keys),
        )
    console.print(table)
    if runs:
        console.print(
            "[dim]ids are shortened; any unique suffix or prefix works, "
            "e.g. `cairn runs show ID`[/]"
        )


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
    console.print(f"[bold]{run.experiment}/{run.name}[/] {run.id} {status(run.status)}")
    console.print(
        f"started {when(run.started)}, took {duration(run.duration)}, by {run.user} "
        f"on {run.host}" + (f", child of {run.parent_id}" if run.parent_id else "")
    )
    console.print(f"command: {run.command}")
    _table("params", ["key", "value"], [(k, number(v)) for k, v in sorted(run.params.items())])
    _table("tags", ["key", "value"], sorted(run.tags.items()))
    rows = []
    for key in sorted(run.metrics):
        values = [v for _, v, _ in run.metric_history(key)]
        finite = [v for v in values if v == v]
        rows.append(
            (
                key,
                number(run.metrics[key]),
                str(len(values)),
                number(min(finite)) if finite else "-",
                number(max(finite)) if finite else "-",
            )
        )
    _table("metrics", ["key", "last", "count", "min", "max"], rows)
    _table(
        "artifacts",
        ["name", "version", "kind", "digest"],
        [(a.name, str(a.version), a.kind, a.digest[:16]) for a in run.artifacts()],
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
        console.print(run.error)


def _table(title: str, columns: list[str], rows: list) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


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
        table = Table(title=section, title_justify="left")
        for column in ("key", ra.id[-10:], rb.id[-10:]):
            table.add_column(column)
        for key, (va, vb) in sorted(changed.items()):
            table.add_row(key, "-" if va is None else number(va), "-" if vb is None else number(vb))
        console.print(table)
    if result["code_diff"]:
        console.print("[bold]code[/]")
        console.print(Syntax(result["code_diff"], "diff"))
    else:
        console.print("code: [green]same[/]")


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
    force: bool = typer.Option(False, "--force", help="Reproduce even if packages differ."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary worktree."),
) -> None:
    """Re-create a run's code (git worktree + its diff), re-run its command, compare digests."""
    from cairn.reproduce import reproduce

    result = reproduce(run_id, force=force, keep=keep)
    if result.package_changes:
        console.print(f"[yellow]{len(result.package_changes)} package(s) differ (--force)[/]")
    if result.reproduced is None:
        console.print(f"[red]the command exited with {result.returncode} and made no run[/]")
        raise typer.Exit(1)
    table = Table(title=f"{result.original.id} reproduced as {result.reproduced.id}")
    for column in ("artifact", "original", "reproduced", "same"):
        table.add_column(column)
    for c in result.comparisons:
        table.add_row(
            c.key,
            (c.original or "-")[:12],
            (c.reproduced or "-")[:12],
            "[green]yes[/]" if c.matches else "[red]no[/]",
        )
    console.print(table)
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
