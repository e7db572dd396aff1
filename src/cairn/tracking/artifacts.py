"""Artifacts: named, versioned, content-addressed values produced by runs.

A reference can be written as `NAME` (latest version), `NAME:VERSION`, `RUN_ID/NAME`
(the latest `NAME` that run saved) or a blob digest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.errors import NotFoundError, VersionContentionError
from cairn.store import Store, get_store, schema
from cairn.store.database import dialect_insert
from cairn.store.nodes import Relation, artifact_node, run_node
from cairn.tracking import active

MAX_VERSION_RETRIES = 20


@dataclass(frozen=True)
class ArtifactRef:
    id: int
    name: str
    version: int
    digest: str
    run_id: str | None
    kind: str
    created: float = 0.0
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def node(self) -> str:
        """Its id in the lineage graph."""
        return artifact_node(self.id)

    @classmethod
    def from_row(cls, row: sa.Row) -> ArtifactRef:
        meta = json.loads(row.meta) if row.meta else {}
        return cls(
            row.id, row.name, row.version, row.digest, row.run_id, row.kind, row.created, meta
        )


def save_artifact(
    store: Store,
    run_id: str | None,
    name: str,
    value: object,
    kind: str = "artifact",
    meta: dict | None = None,
    digest: str | None = None,
) -> ArtifactRef:
    """A new version of `name` holding `value` (or the already stored blob `digest`)."""
    digest = digest or store.put_value(value)
    for _ in range(MAX_VERSION_RETRIES):
        try:
            with store.writer() as conn:
                version = next_version(conn, name)
                return insert_artifact(conn, run_id, name, version, kind, digest, meta)
        except sa.exc.IntegrityError:
            if not _version_taken(store, name, version):
                _raise_missing(store, run_id, digest)
                raise
            # another process took this version number; take the next one
    raise VersionContentionError(
        f"could not record artifact {name!r}: other writers took the next version number "
        f"{MAX_VERSION_RETRIES} times in a row"
    )


def next_version(conn: sa.Connection, name: str) -> int:
    """The number the next version of artifact `name` takes, as seen inside `conn`."""
    table = schema.artifacts
    latest = conn.execute(sa.select(sa.func.max(table.c.version)).where(table.c.name == name))
    return (latest.scalar() or 0) + 1


def insert_artifact(
    conn: sa.Connection,
    run_id: str | None,
    name: str,
    version: int,
    kind: str,
    digest: str,
    meta: dict | None = None,
) -> ArtifactRef:
    """Record version `version` of `name` on `conn`, and its producing run as lineage; the
    caller owns the transaction (and the retry if another writer took the number)."""
    now = time.time()
    artifact_id = conn.execute(
        schema.artifacts.insert().values(
            run_id=run_id,
            name=name,
            version=version,
            digest=digest,
            kind=kind,
            created=now,
            meta=json.dumps(meta) if meta else None,
        )
    ).inserted_primary_key[0]
    ref = ArtifactRef(artifact_id, name, version, digest, run_id, kind, now, meta or {})
    if run_id is not None:
        add_edge(conn, ref.node, run_node(run_id), Relation.WAS_GENERATED_BY, now)
    return ref


def _version_taken(store: Store, name: str, version: int) -> bool:
    table = schema.artifacts
    with store.reader() as conn:
        return (
            conn.execute(
                sa.select(table.c.id).where(table.c.name == name, table.c.version == version)
            ).first()
            is not None
        )


def _raise_missing(store: Store, run_id: str | None, digest: str) -> None:
    """Name the missing row that made an artifact's insert fail, if one is missing."""
    runs, blobs = schema.runs, schema.blobs
    with store.reader() as conn:
        if (
            run_id is not None
            and not conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first()
        ):
            raise NotFoundError(f"run {run_id} does not exist in {store.description}")
        if not conn.execute(sa.select(blobs.c.digest).where(blobs.c.digest == digest)).first():
            raise NotFoundError(f"blob {digest} is not recorded in {store.description}")


def resolve(store: Store, ref: ArtifactRef | str, as_of: float | None = None) -> ArtifactRef:
    """The artifact a reference names (as of a time, if given), or NotFoundError."""
    table = schema.artifacts
    query = sa.select(table)
    if as_of is not None:
        query = query.where(table.c.created <= as_of)
    if isinstance(ref, ArtifactRef):
        query = query.where(table.c.id == ref.id)
    elif "/" in ref:
        run_id, name = ref.split("/", 1)
        query = query.where(table.c.run_id == run_id, table.c.name == name)
    elif ":" in ref:
        name, version = ref.rsplit(":", 1)
        if not version.isdigit():
            raise NotFoundError(f"artifact reference {ref!r}: version {version!r} is not a number")
        query = query.where(table.c.name == name, table.c.version == int(version))
    elif len(ref) == 64 and all(c in "0123456789abcdef" for c in ref):
        query = query.where(table.c.digest == ref)
    else:
        query = query.where(table.c.name == ref)
    with store.reader() as conn:
        row = conn.execute(query.order_by(table.c.version.desc(), table.c.id.desc())).first()
    if row is None:
        raise NotFoundError(
            f"no artifact {str(ref)!r} in {store.description}; "
            "`cairn runs show RUN_ID` lists a run's artifacts"
        )
    return ArtifactRef.from_row(row)


def load(ref: ArtifactRef | str) -> object:
    """The value an artifact reference names; recorded as an input of the active run."""
    store = get_store()
    artifact = resolve(store, ref)
    value = store.get_value(artifact.digest)
    run = active.current()
    if run is not None:
        record_input(store, run.id, artifact)
    return value


def record_input(store: Store, run_id: str, artifact: ArtifactRef) -> None:
    """Run `run_id` read `artifact`: an edge of the lineage graph."""
    with store.writer() as conn:
        add_edge(conn, run_node(run_id), artifact.node, Relation.USED, time.time())


def add_edge(conn: sa.Connection, src: str, dst: str, relation: Relation, created: float) -> None:
    conn.execute(
        dialect_insert(conn, schema.lineage_edges)
        .values(src=src, dst=dst, relation=relation.value, created=created)
        .on_conflict_do_nothing()
    )
