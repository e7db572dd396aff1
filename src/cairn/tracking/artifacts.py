"""Artifacts: named, versioned, content-addressed values produced by runs.

A reference can be written as `NAME` (latest version), `NAME:VERSION`, `RUN_ID/NAME`
(the latest `NAME` that run saved) or a blob digest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import NotFoundError
from cairn.store import Store, schema

MAX_VERSION_RETRIES = 20


@dataclass(frozen=True)
class ArtifactRef:
    id: int
    name: str
    version: int
    digest: str
    run_id: str | None
    kind: str

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


def save_artifact(
    store: Store, run_id: str | None, name: str, value: object, kind: str = "artifact"
) -> ArtifactRef:
    digest = store.put_value(value)
    table = schema.artifacts
    for _ in range(MAX_VERSION_RETRIES):
        try:
            with store.writer() as conn:
                latest = conn.execute(
                    sa.select(sa.func.max(table.c.version)).where(table.c.name == name)
                ).scalar()
                version = (latest or 0) + 1
                artifact_id = conn.execute(
                    table.insert().values(
                        run_id=run_id,
                        name=name,
                        version=version,
                        digest=digest,
                        kind=kind,
                        created=time.time(),
                    )
                ).inserted_primary_key[0]
            return ArtifactRef(artifact_id, name, version, digest, run_id, kind)
        except sa.exc.IntegrityError:
            continue  # another process took this version number; take the next one
    raise RuntimeError(f"could not allocate a version for artifact {name!r}")


def resolve(store: Store, ref: ArtifactRef | str) -> ArtifactRef:
    """The artifact a reference names, or NotFoundError saying what was looked for."""
    table = schema.artifacts
    query = sa.select(table)
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
    return ArtifactRef(row.id, row.name, row.version, row.digest, row.run_id, row.kind)


def record_input(store: Store, run_id: str, artifact: ArtifactRef) -> None:
    from cairn.store.database import dialect_insert

    with store.writer() as conn:
        conn.execute(
            dialect_insert(conn, schema.run_inputs)
            .values(run_id=run_id, artifact_id=artifact.id)
            .on_conflict_do_nothing()
        )
