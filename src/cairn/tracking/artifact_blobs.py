"""A run's artifacts with what their blobs are: the codec that wrote the bytes and their size,
which a download needs to name the file and a listing shows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import NotFoundError
from cairn.store import Store, get_store, schema
from cairn.tracking.artifacts import ArtifactRef


@dataclass(frozen=True)
class StoredArtifact:
    ref: ArtifactRef
    codec: str
    size: int  # bytes as stored (encoded)


def run_artifacts(run_id: str, *, store: Store | None = None) -> list[StoredArtifact]:
    """Every artifact run `run_id` saved, oldest first."""
    return _select(store, schema.artifacts.c.run_id == run_id)


def run_artifact(run_id: str, artifact_id: int, *, store: Store | None = None) -> StoredArtifact:
    """Artifact `artifact_id`, if run `run_id` saved it; NotFoundError otherwise (another
    run's artifact included)."""
    table = schema.artifacts
    found = _select(store, table.c.run_id == run_id, table.c.id == artifact_id)
    if not found:
        raise NotFoundError(f"run {run_id} has no artifact {artifact_id}")
    return found[0]


def _select(store: Store | None, *where: sa.ColumnElement[bool]) -> list[StoredArtifact]:
    store = store or get_store()
    artifacts, blobs = schema.artifacts, schema.blobs
    query = (
        sa.select(artifacts, blobs.c.codec, blobs.c.size)
        .join(blobs, blobs.c.digest == artifacts.c.digest)
        .where(*where)
        .order_by(artifacts.c.id)
    )
    with store.reader() as conn:
        rows = conn.execute(query).all()
    return [StoredArtifact(ArtifactRef.from_row(r), r.codec, r.size) for r in rows]
