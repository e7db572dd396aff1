"""`cairn models ls|show|promote|history|transfer|orphans|gates|archive|unarchive|export|hooks`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from cairn import models
from cairn.cli.output import (
    Column,
    ColumnsOption,
    Fit,
    console,
    pairs,
    print_json,
    print_table,
    when,
)
from cairn.models import delivery
from cairn.store import get_store

app = typer.Typer(
    help="The model registry: versions, aliases, gates, owners.", no_args_is_help=True
)
hooks_app = typer.Typer(help="Webhooks on alias moves and new versions.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _plain(value: object) -> object:
    """A registry record as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    describe = getattr(value, "describe", None)
    return describe() if callable(describe) else value


def _aliases(aliases: dict[str, int] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(aliases, dict):
        return tuple(f"{a}->{v}" for a, v in aliases.items())
    return tuple(aliases)


@app.command("ls")
def list_command(
    as_json: bool = JsonOption,
    columns: ColumnsOption = None,
    limit: int = typer.Option(100, "--limit", min=0, help="Models to show (0: all)."),
) -> None:
    """The models by name: owner, versions, aliases."""
    every = models.list_models()
    found = every[:limit] if limit else every
    if as_json:
        print_json([_plain(m) for m in found])
        return
    shown = f"{len(found):,} of {len(every):,} model(s); --limit 0 shows all"
    print_table(
        f"{len(every):,} model(s)" if len(found) == len(every) else shown,
        [
            Column("name", 0),
            Column("owner", 1, Fit.CLIP),
            Column("versions", 3, justify="right"),
            Column("latest", 2, justify="right"),
            Column("aliases", 1, Fit.WRAP),
            Column("updated", 4),
            Column("description", 5, Fit.WRAP),
        ],
        [
            {
                "name": m.name,
                "owner": m.owner,
                "versions": str(m.versions),
                "latest": "-" if m.latest is None else str(m.latest),
                "aliases": _aliases(m.aliases),
                "updated": when(m.updated, short=True),
                "description": tuple(m.description.split()),
            }
            for m in found
        ],
        chosen=columns,
        choosable=True,
    )


@app.command("show")
def show_command(
    name: str,
    version: str = typer.Argument(None, help="One version (a number or an alias)."),
    as_json: bool = JsonOption,
    columns: ColumnsOption = None,
) -> None:
    """A model and its versions, or one version: flavor, signature, run, aliases."""
    if version is not None:
        ref = f"{name}/{version}" if version.isdigit() else f"{name}@{version}"
        _show_version(models.get_version(ref), as_json)
        return
    info = models.get_model(name)
    versions = models.list_versions(name)
    if as_json:
        print_json({**_plain(info), "version_list": [_plain(v) for v in versions]})
        return
    console.print(f"[bold]{info.name}[/]  owner [bold]{info.owner}[/]", highlight=False)
    if info.description:
        console.print(info.description, highlight=False)
    print_table(
        f"{len(versions)} version(s)",
        [
            Column("version", 0, justify="right"),
            Column("flavor", 2),
            Column("aliases", 1, Fit.WRAP),
            Column("run", 3),
            Column("created", 4),
            Column("state", 5),
            Column("description", 6, Fit.WRAP),
        ],
        [
            {
                "version": str(v.version),
                "flavor": v.flavor,
                "aliases": v.aliases,
                "run": (v.run_id or "-")[-8:],
                "created": when(v.created, short=True),
                "state": "archived" if v.archived else "active",
                "description": tuple(v.description.split()),
            }
            for v in versions
        ],
        chosen=columns,
        choosable=True,
    )


def _show_version(v: models.ModelVersion, as_json: bool) -> None:
    if as_json:
        print_json(_plain(v))
        return
    console.print(f"[bold]{v}[/]  ({v.flavor})", highlight=False)
    lines = {
        "owner": v.owner,
        "aliases": ", ".join(v.aliases) or "-",
        "run": v.run_id or "-",
        "registered": when(v.created),
        "archived": when(v.archived) if v.archived else "no",
        "digest": v.digest,
        "description": v.description or "-",
        "tags": " ".join(pairs(v.tags)) or "-",
        "signature": json.dumps(v.signature)
        if v.signature
        else "none (registered without example)",
    }
    for key, value in lines.items():
        console.print(f"  {key:<12}{value}", highlight=False, soft_wrap=True)


@app.command("promote")
def promote_command(
    name: str,
    version: str,
    alias: str,
    force: bool = typer.Option(False, "--force", help="Move it even if gates refuse."),
    reason: str = typer.Option(None, "--reason", help="Why (required with --force)."),
    as_json: bool = JsonOption,
) -> None:
    """Point NAME@ALIAS at VERSION once the alias's gates pass."""
    move = models.set_alias(name, alias, version, reason=reason, force=force)
    if as_json:
        print_json(_plain(move))
        return
    for result in move.results:
        mark = "[green]pass[/]" if result.passed else "[red]fail[/]"
        console.print(f"  {mark} {result.gate}: {result.reason}", highlight=False)
    before = "nothing" if move.previous is None else f"version {move.previous}"
    console.print(f"{name}@{alias}: {before} -> version {move.version}", highlight=False)
    if move.overridden:
        console.print(f"[yellow]overrode {len(move.overridden)} gate(s)[/]: {reason}")


@app.command("history")
def history_command(name: str, as_json: bool = JsonOption, columns: ColumnsOption = None) -> None:
    """Every change to a model, oldest first: who, when, what, before and after."""
    events = models.history(name)
    if as_json:
        print_json([_plain(e) for e in events])
        return
    print_table(
        f"{name}: {len(events)} event(s)",
        [
            Column("time", 1),
            Column("actor", 2, Fit.CLIP),
            Column("action", 0),
            Column("subject", 3, Fit.CLIP),
            Column("detail", 4, Fit.WRAP),
        ],
        [
            {
                "time": when(e.ts, short=True),
                "actor": e.actor or "-",
                "action": e.action,
                "subject": e.subject,
                "detail": _detail(e.detail),
            }
            for e in events
        ],
        chosen=columns,
        choosable=True,
    )


def _detail(detail: dict) -> tuple[str, ...]:
    """An event's detail as key=value tokens: a change as before->after, a record's fields
    flattened, a gate's verdict and reason, digests shortened."""
    shown = dict(detail)
    before, after = shown.pop("before", None), shown.pop("after", None)
    for side in (before, after):
        if isinstance(side, dict):  # a record made or removed: its fields
            shown = {**side, **shown}
    scalars = not isinstance(before, dict) and not isinstance(after, dict)
    if scalars and (before is not None or after is not None):
        shown = {"change": f"{_short(before)}->{_short(after)}", **shown}
    result = shown.pop("result", None)
    if isinstance(result, dict):
        shown["gate"] = "pass" if result.get("passed") else "fail"
        shown["why"] = result.get("reason", "")
    return tuple(f"{k}={_short(v)}" for k, v in shown.items() if v is not None)


def _short(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        is_digest = len(value) == 64 and all(c in "0123456789abcdef" for c in value)
        return value[:12] if is_digest else value
    return json.dumps(value, default=str)


@app.command("transfer")
def transfer_command(
    name: str, owner: str, reason: str = typer.Option(None, "--reason", help="Why.")
) -> None:
    """Hand a model over to another owner."""
    before = models.transfer(name, owner, reason=reason)
    console.print(f"{name}: owner {before} -> {owner}", highlight=False)


@app.command("orphans")
def orphans_command(
    days: float = typer.Option(90, "--days", min=0, help="Idle for at least this many days."),
    as_json: bool = JsonOption,
) -> None:
    """Models whose owner has not acted on them, and versions nothing uses."""
    found = models.orphans(days)
    if as_json:
        print_json([_plain(o) for o in found])
        return
    print_table(
        f"{len(found)} orphan(s) idle for {days:g} day(s)",
        [
            Column("model", 0),
            Column("kind", 1),
            Column("owner", 2, Fit.CLIP),
            Column("last active", 3),
        ],
        [
            {
                "model": str(o),
                "kind": o.kind.value,
                "owner": o.owner,
                "last active": when(o.last_active, short=True),
            }
            for o in found
        ],
    )


@app.command("gates")
def gates_command(
    name: str,
    alias: str = typer.Option(None, "--alias", help="Only this alias's gates."),
    as_json: bool = JsonOption,
) -> None:
    """The release gates that guard a model's aliases."""
    rules = models.list_gates(name, alias)
    if as_json:
        print_json(
            [{"id": r.id, "alias": r.alias, "gate": r.gate.to_spec(), "created": r.created}
             for r in rules]
        )  # fmt: skip
        return
    print_table(
        f"{name}: {len(rules)} gate(s)",
        [Column("id", 0, justify="right"), Column("alias", 1), Column("gate", 2, Fit.WRAP)],
        [
            {"id": str(r.id), "alias": r.alias, "gate": tuple(r.gate.describe().split())}
            for r in rules
        ],
    )


@app.command("archive")
def archive_command(name: str, version: str) -> None:
    """Retire a version (no alias may point to it)."""
    v = models.archive(name, version)
    console.print(f"{v} archived", highlight=False)


@app.command("unarchive")
def unarchive_command(name: str, version: str) -> None:
    """Bring an archived version back (`latest` and aliases may name it again)."""
    v = models.unarchive(name, version)
    console.print(f"{v} is not archived", highlight=False)


@app.command("export")
def export_command(
    ref: str = typer.Argument(..., help="NAME@ALIAS, NAME/VERSION or NAME@latest."),
    dest: Path = typer.Argument(..., help="A new (or empty) folder to write."),
    format: str = typer.Option("mlflow", "--format", help="mlflow: an MLflow model directory."),
) -> None:
    """Write a model version in another tool's format: `--format mlflow` writes an MLflow
    model directory (MLmodel, the flavor's files, signature, requirements) that `mlflow
    models serve -m DEST` serves."""
    from cairn.mlflow.export import export_model

    written = export_model(ref, dest, format=format, store=get_store(create=False))
    console.print(f"wrote {ref} as an MLflow model to {written}", highlight=False)


@hooks_app.command("ls")
def hooks_list_command(as_json: bool = JsonOption) -> None:
    """The webhooks and the events they get."""
    found = models.list_hooks()
    if as_json:
        print_json([_plain(h) for h in found])
        return
    print_table(
        f"{len(found)} hook(s)",
        [Column("id", 0, justify="right"), Column("url", 1, Fit.CLIP), Column("events", 2)],
        [{"id": str(h.id), "url": h.url, "events": ",".join(sorted(h.events))} for h in found],
    )


@hooks_app.command("add")
def hooks_add_command(
    url: str,
    events: str = typer.Option(
        "alias,version", "--events", help="Comma-separated: alias, version."
    ),
) -> None:
    """POST a signed JSON body to URL on each alias move and/or new version."""
    hook, secret = models.add_hook(url, [e.strip() for e in events.split(",") if e.strip()])
    console.print(f"hook {hook.id}: {hook.url} on {','.join(sorted(hook.events))}")
    console.print(
        f"secret (shown once; verify the X-Cairn-Signature header with it): {secret}",
        highlight=False,
        soft_wrap=True,
    )


@hooks_app.command("rm")
def hooks_remove_command(hook_id: int) -> None:
    """Remove a webhook; its pending deliveries are dropped."""
    hook = models.remove_hook(hook_id)
    console.print(f"hook {hook.id} ({hook.url}) removed", highlight=False)


@hooks_app.command("deliveries")
def hooks_deliveries_command(
    hook_id: int = typer.Option(None, "--hook", help="Only this hook's."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = JsonOption,
) -> None:
    """Recent deliveries and their outcomes."""
    found = models.deliveries(hook_id=hook_id, limit=limit)
    if as_json:
        print_json([_plain(d) for d in found])
        return
    print_table(
        f"{len(found)} deliver(ies)",
        [
            Column("id", 0, justify="right"),
            Column("hook", 1, justify="right"),
            Column("status", 0),
            Column("attempts", 2, justify="right"),
            Column("response", 3),
            Column("updated", 4),
            Column("error", 5, Fit.WRAP),
        ],
        [
            {
                "id": str(d.id),
                "hook": str(d.hook_id),
                "status": str(d.status),
                "attempts": str(d.attempts),
                "response": "-" if d.response is None else str(d.response),
                "updated": when(d.updated, short=True),
                "error": tuple((d.error or "").split()),
            }
            for d in found
        ],
    )


@hooks_app.command("deliver")
def hooks_deliver_command(
    timeout: float = typer.Option(30.0, "--timeout", min=0, help="Seconds to keep trying."),
) -> None:
    """Send the deliveries that are due now (the registry sends them in the background too)."""
    report = delivery.drain(get_store(create=False), timeout)
    console.print(
        f"delivered {report.delivered}, will retry {report.retried}, failed {report.failed}"
    )
