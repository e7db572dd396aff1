"""Registered MLflow models as cairn model versions, with their tags and aliases.

Each MLflow model version whose MLmodel has a flavor cairn knows (sklearn, xgboost, lightgbm,
onnx, pytorch) is loaded by MLflow's own loader for that flavor (`mlflow.sklearn.load_model`,
...) and registered through `cairn.models.register`, in MLflow's version order, with its
description, its tags, and its run (the imported cairn run). The example saved with it (or,
without one, a row of zeros shaped by MLflow's signature) gives the cairn version its
signature. The MLflow version number is the cairn version's tag `mlflow.model_version`
(versions with identical bytes are one cairn version, tagged `1,2`), so the numbers may
differ: aliases are moved to the cairn version their MLflow version became, through
`set_alias` (gates run; a refusal is reported, never forced). MLflow's deprecated stage, when
set, is the tag `mlflow.current_stage`; a registered model's description and tags become
the cairn model's tags (`mlflow.description` for the former).

A version of any other flavor (a bare python_function, transformers, ...) or one that does
not load here is not a cairn version: its files are kept, with the reason, as an artifact of
kind `files` named `NAME.mlflow-model` (one artifact version per MLflow version, its meta
naming the MLflow version and flavors), produced by its run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cairn import models
from cairn.datasets import files
from cairn.errors import CairnError, GateRefusedError
from cairn.mlflow.import_names import Names
from cairn.mlflow.mlflow_source import MlflowSource
from cairn.models.references import check_model_name
from cairn.store import Store, schema
from cairn.tracking.artifacts import save_artifact

# MLflow flavor -> cairn flavor, tried in this order when a model has several.
FLAVORS = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "pytorch": "torch",
}
VERSION_TAG = "mlflow.model_version"
KEPT_SUFFIX = ".mlflow-model"
KEPT_KIND = "files"


@dataclass
class ModelsReport:
    models: int = 0  # registered models in the source
    versions: int = 0  # registered as cairn versions now
    unchanged: int = 0  # imported before
    kept: list[str] = field(default_factory=list)  # versions kept as files, and why
    aliases: int = 0  # moved now
    not_moved: list[str] = field(default_factory=list)  # aliases left as they were, and why


def import_models(
    source: MlflowSource,
    store: Store,
    cairn_runs: dict[str, str],
    names: Names,
    owner: str,
    progress: Callable[[int, int], None],
) -> ModelsReport:
    report = ModelsReport()
    registered = source.registered_models()
    report.models = len(registered)
    versions = {rm.name: source.model_versions(rm.name) for rm in registered}
    total = sum(len(v) for v in versions.values())
    done = 0
    progress(done, total)
    for rm in registered:
        name = check_model_name(names(rm.name, "model name"))
        numbers = _imported(store, name)
        for version in versions[rm.name]:
            number = int(version.version)
            if number in numbers:
                report.unchanged += 1
            else:
                found = _import_version(source, store, name, version, cairn_runs, names, owner)
                if isinstance(found, int):
                    numbers[number] = found
                    report.versions += 1
                else:
                    report.kept.append(f"{name} version {number}: {found}")
            done += 1
            progress(done, total)
        _model_tags(store, name, rm, names)
        _aliases(store, name, rm, numbers, source.description, report)
    return report


def _imported(store: Store, name: str) -> dict[int, int | None]:
    """MLflow version -> the cairn version it became (None: kept as files), for `name`."""
    tags, artifacts = schema.model_tags, schema.artifacts
    found: dict[int, int | None] = {}
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(tags.c.version, tags.c.value).where(
                tags.c.name == name, tags.c.key == VERSION_TAG, tags.c.version > 0
            )
        )
        for cairn_version, value in rows:
            for number in value.split(","):
                found[int(number)] = cairn_version
        kept = conn.execute(
            sa.select(artifacts.c.meta).where(artifacts.c.name == name + KEPT_SUFFIX)
        ).scalars()
        for meta in kept:
            found.setdefault(int(json.loads(meta)["mlflow_version"]), None)
    return found


def _import_version(
    source: MlflowSource,
    store: Store,
    name: str,
    version: Any,
    cairn_runs: dict[str, str],
    names: Names,
    owner: str,
) -> int | str:
    """The cairn version MLflow version `version` became, or why it was kept as files."""
    run_id = cairn_runs.get(version.run_id or "")
    with source.files(source.model_location(version)) as folder:
        if folder is None or not (folder / "MLmodel").is_file():
            return f"no MLmodel at {source.model_location(version)}: nothing to import"
        from mlflow.models import Model

        mlmodel = Model.load(str(folder / "MLmodel"))
        flavor = next((f for f in FLAVORS if f in mlmodel.flavors), None)
        why = f"flavors {', '.join(mlmodel.flavors)}: none is one cairn runs"
        if flavor is not None:
            try:
                return _register(
                    store, name, version, folder, mlmodel, flavor, run_id, names, owner
                )
            except Exception as exc:  # any failure to load or register keeps the files
                why = f"the {flavor} model did not load or register here: {exc}"
        _keep(store, name, version, folder, sorted(mlmodel.flavors), why, run_id)
        return f"kept as files in {name}{KEPT_SUFFIX} ({why})"


def _register(
    store: Store,
    name: str,
    version: Any,
    folder: Path,
    mlmodel: Any,
    flavor: str,
    run_id: str | None,
    names: Names,
    owner: str,
) -> int:
    native = importlib.import_module(f"mlflow.{flavor}").load_model(str(folder))
    tags = {names(k, "tag name"): v for k, v in (version.tags or {}).items()}
    tags[VERSION_TAG] = str(version.version)
    tags["mlflow.source"] = version.source or ""
    stage = getattr(version, "current_stage", None)
    if stage and stage != "None":
        tags["mlflow.current_stage"] = stage
    new_model = not _exists(store, name)
    arguments = {
        "run": run_id,
        "owner": owner if new_model else None,
        "description": version.description or "",
        "tags": tags,
        "flavor": FLAVORS[flavor],
        "store": store,
    }
    example = _example(mlmodel, folder)
    try:
        registered = models.register(name, native, example=example, **arguments)
    except CairnError:
        if example is None:
            raise
        # MLflow's example may not fit the model as loaded here: register without it.
        registered = models.register(name, native, **arguments)
    mapped = registered.tags.get(VERSION_TAG, "")
    if str(version.version) not in mapped.split(","):  # the same bytes as an earlier version
        models.set_tag(
            name, VERSION_TAG, f"{mapped},{version.version}".strip(","),
            version=registered.version, store=store,
        )  # fmt: skip
    return registered.version


def _exists(store: Store, name: str) -> bool:
    with store.reader() as conn:
        found = conn.execute(
            sa.select(schema.models.c.name).where(schema.models.c.name == name)
        ).first()
    return found is not None


def _example(mlmodel: Any, folder: Path) -> object:
    """The input example saved with the model; else one row of zeros shaped by its
    signature; else None."""
    try:
        example = mlmodel.load_input_example(str(folder))
    except Exception:
        example = None
    if example is not None and not isinstance(example, dict):
        return example
    signature = mlmodel.signature
    if signature is None or signature.inputs is None:
        return None
    return _zeros(signature.inputs)


def _zeros(schema_: Any) -> object:
    import numpy as np

    if schema_.is_tensor_spec():
        spec = schema_.inputs[0]
        shape = tuple(1 if n == -1 else n for n in spec.shape)
        return np.zeros(shape or (1,), dtype=spec.type)
    import pandas as pd

    row = {}
    for column in schema_.inputs:
        kind = str(column.type).lower()
        if "string" in kind:
            row[column.name] = ""
        elif "bool" in kind:
            row[column.name] = False
        elif "long" in kind or "integer" in kind:
            row[column.name] = 0
        else:
            row[column.name] = 0.0
    frame = pd.DataFrame([row])
    for column in schema_.inputs:
        kind = str(column.type).lower()
        if "integer" in kind:
            frame[column.name] = frame[column.name].astype("int32")
        elif "float" in kind and "double" not in kind:
            frame[column.name] = frame[column.name].astype("float32")
    return frame


def _keep(
    store: Store,
    name: str,
    version: Any,
    folder: Path,
    flavors: list[str],
    why: str,
    run_id: str | None,
) -> None:
    manifest = files.snapshot(store, folder)
    digest = store.put_value(manifest, codec="json")
    files.link_files(store, digest, manifest)
    meta = {
        "mlflow_model": version.name,
        "mlflow_version": int(version.version),
        "flavors": flavors,
        "why": why,
    }
    save_artifact(store, run_id, name + KEPT_SUFFIX, None, KEPT_KIND, meta=meta, digest=digest)


def _model_tags(store: Store, name: str, rm: Any, names: Names) -> None:
    if not _exists(store, name):
        return  # no version became a cairn version: there is no model to tag
    tags = {names(k, "tag name"): v for k, v in (rm.tags or {}).items()}
    if rm.description:
        tags["mlflow.description"] = rm.description
    for key, value in tags.items():
        models.set_tag(name, key, value, store=store)


def _aliases(
    store: Store,
    name: str,
    rm: Any,
    numbers: dict[int, int | None],
    source: str,
    report: ModelsReport,
) -> None:
    current = models.get_model(name, store=store).aliases if _exists(store, name) else {}
    for alias, mlflow_version in (rm.aliases or {}).items():
        target = numbers.get(int(mlflow_version))
        if target is None:
            report.not_moved.append(
                f"{name}@{alias}: MLflow version {mlflow_version} is not a cairn version"
            )
            continue
        if current.get(alias) == target:
            continue
        try:
            models.set_alias(
                name, alias, target, reason=f"imported from MLflow ({source})", store=store
            )
            report.aliases += 1
        except GateRefusedError as exc:
            report.not_moved.append(f"{name}@{alias} -> {target}: {exc}")
