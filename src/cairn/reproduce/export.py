"""`cairn runs export ID --dockerfile DIR`: what rebuilds a run's environment.

Writes a Dockerfile, a requirements file pinning every package the run had, the run's
uncommitted diff and the untracked files stored with it, and a `spec.yaml` in the spirit of
DLSpec: hardware, software, dataset and model sections, so the run can be rebuilt and its
inputs and outputs checked.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import sqlalchemy as sa
import yaml

from cairn.atomic import write_atomically
from cairn.reproduce.command import command_line
from cairn.reproduce.errors import CannotReproduce
from cairn.reproduce.untracked import restore_untracked
from cairn.store import Store, get_store, schema
from cairn.store.nodes import Relation, artifact_node_sql, run_node
from cairn.tracking.query import RunRecord, get_run

# Installed by the image itself or only meaningful where they were built.
_NOT_PINNED = {"pip", "setuptools", "wheel", "cairn"}
UNTRACKED_DIR = "untracked"


def export(run_id: str, folder: str | Path, *, store: Store | None = None) -> list[Path]:
    """Write the Dockerfile, requirements.txt, spec.yaml (and the diff, and the stored
    untracked files under `untracked/`) into `folder`."""
    store = store or get_store()
    run = get_run(run_id, store=store)
    env, code = run.environment() or {}, run.code() or {}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    packages = env.get("packages", {})
    untracked = restore_untracked(code, store, folder / UNTRACKED_DIR, copy_listed_from=None)
    files = {
        "requirements.txt": "".join(
            f"{name}=={version}\n" for name, version in packages.items() if name not in _NOT_PINNED
        ),
        "Dockerfile": _dockerfile(run, env, code, bool(untracked)),
        "spec.yaml": yaml.safe_dump(_spec(store, run, env, code), sort_keys=False),
    }
    if code.get("diff"):
        files["uncommitted.diff"] = code["diff"]
    written = [write_atomically(folder / name, text) for name, text in files.items()]
    return written + [folder / UNTRACKED_DIR / path for path in untracked]


def _dockerfile(run: RunRecord, env: dict, code: dict, has_untracked: bool) -> str:
    python = ".".join((env.get("python") or "3.11").split(".")[:2])
    lines = [
        f"# Rebuilds the environment of cairn run {run.id} ({run.experiment}/{run.name}).",
        f"FROM python:{python}-slim",
        "RUN apt-get update && apt-get install -y --no-install-recommends git "
        "&& rm -rf /var/lib/apt/lists/*",
        "COPY requirements.txt /tmp/requirements.txt",
        "RUN pip install --no-cache-dir -r /tmp/requirements.txt cairn",
        "WORKDIR /work",
    ]
    if code.get("remote") and code.get("commit"):
        lines.append(
            f"RUN git clone {shlex.quote(code['remote'])} /work "
            f"&& git -C /work checkout {code['commit']}"
        )
    else:
        lines.append(
            f"# The code was not pushed anywhere: copy the checkout at "
            f"{code.get('commit') or 'its commit'} into the build context."
        )
        lines.append("COPY code/ /work/")
    if code.get("diff"):
        lines += [
            "COPY uncommitted.diff /tmp/uncommitted.diff",
            "RUN git -C /work apply /tmp/uncommitted.diff",
        ]
    if has_untracked:
        lines.append(f"COPY {UNTRACKED_DIR}/ /work/")
    for entry in code.get("untracked", []):
        if isinstance(entry, dict) and entry.get("stored") is False:
            lines.append(
                f"# Not stored with the run (over CAIRN_UNTRACKED_LIMIT), add it to "
                f"{UNTRACKED_DIR}/: {entry['path']} ({entry['size']} bytes, {entry['digest']})"
            )
    lines.append(f"WORKDIR /work/{code.get('cwd', '.')}")
    try:
        # The exec form is a JSON array: arguments keep their spaces, no shell in between.
        lines.append(f"CMD {json.dumps(command_line(code.get('argv') or [], 'python'))}")
    except CannotReproduce as exc:
        lines.append(f"# No CMD: {exc}")
    return "\n".join(lines) + "\n"


def _spec(store: Store, run: RunRecord, env: dict, code: dict) -> dict:
    inputs, outputs = _artifacts(store, run.id)
    return {
        "name": f"{run.experiment}/{run.name}",
        "run": {
            "id": run.id,
            "status": run.status.value,
            "started": _iso(run.started),
            "command": run.command,
            "params": run.params,
        },
        "hardware": {
            "cpu": env.get("cpu", {}),
            "memory_bytes": env.get("memory_bytes"),
            "gpus": env.get("gpus", []),
        },
        "software": {
            "python": env.get("python"),
            "os": env.get("os", {}),
            "packages": "requirements.txt",
            "package_count": len(env.get("packages", {})),
            "code": {k: code.get(k) for k in ("remote", "commit", "branch", "dirty")},
        },
        "dataset": inputs,
        "model": outputs,
    }


def _artifacts(store: Store, run_id: str) -> tuple[list[dict], list[dict]]:
    artifacts, edges = schema.artifacts, schema.lineage_edges
    used = sa.select(edges.c.dst).where(
        edges.c.src == run_node(run_id), edges.c.relation == Relation.USED.value
    )
    node = artifact_node_sql(artifacts.c.id)
    with store.reader() as conn:
        read = conn.execute(sa.select(artifacts).where(node.in_(used))).all()
        made = conn.execute(sa.select(artifacts).where(artifacts.c.run_id == run_id)).all()

    def describe(rows: list) -> list[dict]:
        return [
            {"name": r.name, "version": r.version, "kind": r.kind, "digest": r.digest} for r in rows
        ]

    return describe(read), describe(made)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()
