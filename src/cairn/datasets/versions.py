"""Dataset versions: a new version only when the content changed, found by number or moment.

A dataset version is an artifact of kind "dataset" (a value) or "fileset" (files and
folders). Saving inside a run makes the run its producer; loading inside a run records the
run as a user, so datasets are nodes of the lineage graph like any artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from cairn.datasets import compare, files
from cairn.errors import CairnError, InvalidValueError, NotFoundError
from cairn.store import Store, get_store, schema
from cairn.store.moments import When, checked_timestamp
from cairn.tracking import active
from cairn.tracking.artifacts import ArtifactRef, record_input, save_artifact
from cairn.tracking.validation import check_name

KINDS = ("dataset", files.KIND)


@dataclass
class DatasetInfo:
    name: str
    versions: int
    latest: ArtifactRef


def save(
    name: str, value: object, *, description: str | None = None, store: Store | None = None
) -> ArtifactRef:
    """Store `value` as the next version of dataset `name`, unless the latest is identical."""
    store = store or get_store()
    check_name(name, "dataset name")
    digest = store.put_value(value)
    return _new_version(
        store, name, "dataset", digest, description, summary=compare.summarize(value)
    )


def add(
    name: str, path: str | Path, *, description: str | None = None, store: Store | None = None
) -> ArtifactRef:
    """Register a file or a folder (every file hashed and stored) as a version of `name`."""
    store = store or get_store()
    check_name(name, "dataset name")
    manifest = files.snapshot(store, Path(path))
    digest = store.put_value(manifest, codec="json")
    files.link_files(store, digest, manifest)
    summary = {
        "type": "files",
        "files": len(manifest["files"]),
        "bytes": sum(size for _, size in manifest["files"].values()),
        "source": str(Path(path).resolve()),
    }
    return _new_version(store, name, files.KIND, digest, description, summary)


def get(
    name: str,
    version: int | str | None = None,
    *,
    as_of: When | None = None,
    store: Store | None = None,
) -> ArtifactRef:
    """The version of `name` asked for: a number, "latest" (default), or the one current at
    `as_of`."""
    store = store or get_store()
    table = schema.artifacts
    query = sa.select(table).where(table.c.name == name, table.c.kind.in_(KINDS))
    if as_of is not None:
        if version not in (None, "latest"):
            raise InvalidValueError("give a version or as_of, not both")
        query = query.where(table.c.created <= checked_timestamp(store, as_of))
    elif version not in (None, "latest"):
        if isinstance(version, bool) or not str(version).isdigit():
            raise InvalidValueError(f"version must be a number or 'latest', not {version!r}")
        query = query.where(table.c.version == int(version))
    with store.reader() as conn:
        row = conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()
        if row is None:
            known = (
                conn.execute(
                    sa.select(table.c.version)
                    .where(table.c.name == name, table.c.kind.in_(KINDS))
                    .order_by(table.c.version)
                )
                .scalars()
                .all()
            )
    if row is not None:
        return ArtifactRef.from_row(row)
    if not known:
        raise NotFoundError(f"no dataset {name!r}; `cairn datasets ls` lists the datasets")
    if as_of is not None:
        raise NotFoundError(f"dataset {name!r} had no version yet at {as_of}")
    raise NotFoundError(f"dataset {name!r} has no version {version}; it has {known}")


def load(
    name: str,
    version: int | str | None = None,
    *,
    as_of: When | None = None,
    store: Store | None = None,
) -> object:
    """The value of a dataset version (a `FileSet` for files); recorded as an input of the
    active run."""
    store = store or get_store()
    ref = get(name, version, as_of=as_of, store=store)
    value = value_of(store, ref)
    run = active.current()
    if run is not None:
        record_input(store, run.id, ref)
    return value


def value_of(store: Store, ref: ArtifactRef) -> object:
    """The value a dataset version holds (a `FileSet` for files)."""
    value = store.get_value(ref.digest)
    return files.from_manifest(store, value) if ref.kind == files.KIND else value


def history(name: str, *, store: Store | None = None) -> list[ArtifactRef]:
    store = store or get_store()
    table = schema.artifacts
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(table)
            .where(table.c.name == name, table.c.kind.in_(KINDS))
            .order_by(table.c.version)
        ).all()
    if not rows:
        raise NotFoundError(f"no dataset {name!r}; `cairn datasets ls` lists the datasets")
    return [ArtifactRef.from_row(r) for r in rows]


def list_datasets(*, store: Store | None = None) -> list[DatasetInfo]:
    store = store or get_store()
    table = schema.artifacts
    latest = (
        sa.select(
            table.c.name,
            sa.func.max(table.c.version).label("version"),
            sa.func.count().label("versions"),
        )
        .where(table.c.kind.in_(KINDS))
        .group_by(table.c.name)
        .subquery()
    )
    query = (
        sa.select(table, latest.c.versions)
        .join(latest, sa.and_(table.c.name == latest.c.name, table.c.version == latest.c.version))
        .order_by(table.c.name)
    )
    with store.reader() as conn:
        return [
            DatasetInfo(r.name, r.versions, ArtifactRef.from_row(r)) for r in conn.execute(query)
        ]


def diff(name: str, v1: int | str, v2: int | str, *, store: Store | None = None) -> dict:
    """Schema and row-count changes of frames, shape/dtype/statistics of arrays, files added,
    removed and changed of file sets."""
    store = store or get_store()
    refs = [get(name, v, store=store) for v in (v1, v2)]
    values = [value_of(store, r) for r in refs]
    return {
        "versions": [refs[0].version, refs[1].version],
        "same_content": refs[0].digest == refs[1].digest,
        **compare.diff(*values),
    }


def _new_version(
    store: Store, name: str, kind: str, digest: str, description: str | None, summary: dict
) -> ArtifactRef:
    table = schema.artifacts
    with store.reader() as conn:
        latest = conn.execute(
            sa.select(table).where(table.c.name == name).order_by(table.c.version.desc()).limit(1)
        ).first()
    if latest is not None and latest.kind not in KINDS:
        raise CairnError(
            f"{name!r} is already the name of a {latest.kind} artifact; choose another dataset name"
        )
    if latest is not None and latest.digest == digest:
        return ArtifactRef.from_row(latest)  # same content: same version
    run = active.current()
    meta = {"summary": summary, **({"description": description} if description else {})}
    return save_artifact(store, run.id if run else None, name, None, kind, meta=meta, digest=digest)
