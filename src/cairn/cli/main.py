"""The `cairn` command."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cairn.cli import artifacts, datasets, imports, models, predictions, runs, steps, tune
from cairn.cli import auth as auth_cli
from cairn.cli.lineage import lineage_command
from cairn.cli.output import console, errors, print_json, size
from cairn.cli.serve import serve_command
from cairn.cli.ui import ui_command
from cairn.errors import CairnError

app = typer.Typer(
    help="cairn: track, version and reproduce machine-learning work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(datasets.app, name="datasets")
app.add_typer(steps.app, name="step")
app.add_typer(tune.app, name="tune")
app.add_typer(models.app, name="models")
app.add_typer(predictions.app, name="predictions")
app.add_typer(auth_cli.app, name="auth")
app.add_typer(imports.app, name="import")
app.command("lineage")(lineage_command)
app.command("serve")(serve_command)
app.command("ui")(ui_command)


@app.command()
def init(path: Path = typer.Argument(Path("."), help="Folder to create .cairn/ in.")) -> None:
    """Create a workspace (.cairn/ with a SQLite store and a blob folder)."""
    from cairn.config import find_workspace, init_root
    from cairn.store import get_store

    root = init_root(path)
    store = get_store(find_workspace(root.parent))
    console.print(f"initialized cairn workspace in [bold]{root}[/] ({store.dialect})")


@app.command()
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would change."),
    reap_only: bool = typer.Option(
        False, "--reap-only", help="Only mark runs whose process is gone as crashed."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Mark runs whose process is gone as crashed, then remove blobs nothing refers to."""
    from cairn.store import get_store
    from cairn.store.gc import GcReport, collect
    from cairn.tracking import liveness

    store = get_store(create=False)
    if dry_run:
        with store.reader() as conn:
            crashed = liveness.dead(conn)
    else:
        with store.writer() as conn:
            crashed = liveness.reap(conn)
    report = GcReport(dry_run=dry_run) if reap_only else collect(store, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "crashed": crashed,
                "unreferenced": report.unreferenced,
                "orphans": report.orphans,
                "freed_bytes": report.freed_bytes,
            }
        )
        return
    marked, removed = ("would mark", "would remove") if dry_run else ("marked", "removed")
    console.print(f"{marked} {len(crashed)} run(s) whose process is gone as crashed")
    if not reap_only:
        console.print(
            f"{removed} {len(report.unreferenced)} unreferenced blob(s) "
            f"({size(report.freed_bytes)}) and {len(report.orphans)} orphaned file(s)"
        )


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Smaller searches: under a minute."),
) -> None:
    """Both flows end to end: digits trained, tracked and tuned; a CartPole policy trained
    with Evolution Strategies, tuned, registered behind a gate and served with auth."""
    from cairn.demo import EXPERIMENT, STUDY, rl_demo, run_demo, tune_demo
    from cairn.demo.digits import TRIALS
    from cairn.store import get_store

    run_demo()
    runs.list_runs(
        experiment=EXPERIMENT, filter=None, sort=["attributes.started asc"], limit=50, as_json=False
    )
    result = tune_demo(TRIALS // 4 if quick else TRIALS)
    tune.show_command(STUDY, version=result.study.version, limit=8, as_json=False)
    console.print("\n[bold]reinforcement learning[/]: CartPole-v1 with Evolution Strategies")
    with console.status("tuning, training, gating and serving the policy"):
        rl = rl_demo(quick=quick)
    best = ", ".join(f"{k}={v:.3g}" for k, v in rl.best_params.items())
    console.print(
        f"tuned {len(rl.study.records)} trials, best {best}\n"
        f"trained run {rl.result.run.id[-8:]}: mean return {rl.result.mean_return:.1f} over "
        f"100 episodes after {rl.result.iterations} iterations\n"
        f"registered {rl.version.name}/{rl.version.version} (owner {rl.version.owner}); "
        f"gate passed, {rl.version.name}@production -> {rl.version.version}\n"
        f"served at {rl.url} with --auth (stopped now):\n"
        f"  with a token for predict:model/policy -> action {rl.action}\n"
        f"  without a token -> {rl.refused_without_token}\n"
        f"  device-7's attenuated token, revoked -> {rl.refused_after_revocation} "
        f"after {rl.revoked_within:.2f} s",
        highlight=False,
    )
    console.print(f"workspace: [bold]{get_store().description}[/]")
    console.print(
        "next: `cairn ui` (then http://127.0.0.1:5173), "
        "`cairn runs ls --sort 'metrics.val_acc desc'`, "
        f"`cairn tune ls`, `cairn lineage {result.best_trial.run_id[-8:]}`, "
        "`cairn serve policy@production --auth`"
    )


def main() -> None:
    try:
        app()
    except CairnError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
