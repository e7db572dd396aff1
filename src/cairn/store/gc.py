"""Garbage collection: blobs nothing refers to.

A blob is kept while an artifact points at it, a run uses it as its code or environment
record, or a kept blob links to it (a file set's manifest keeps its files). Files in the blob
store without a row are leftovers of writes cut short (the file is written before its row);
they are removed only after a grace period, so a write in flight now is never collected.
A recorded blob nothing refers to yet has the same grace period: a run's code record is
recorded just before the run row that refers to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.store import Store, schema

GRACE_PERIOD_S = 3600.0


@dataclass
class GcReport:
    unreferenced: list[tuple[str, int]] = field(default_factory=list)  # recorded, unused
    orphans: list[str] = field(default_factory=list)  # files without a row
    dry_run: bool = True

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.unreferenced)


def collect(
    store: Store, *, dry_run: bool = False, grace_period_s: float = GRACE_PERIOD_S
) -> GcReport:
    blobs, artifacts, runs, links = schema.blobs, schema.artifacts, schema.runs, schema.blob_links
    roots = sa.union(
        sa.select(artifacts.c.digest),
        sa.select(runs.c.code_ref.label("digest")).where(runs.c.code_ref.is_not(None)),
        sa.select(runs.c.env_ref.label("digest")).where(runs.c.env_ref.is_not(None)),
    ).subquery()
    used = sa.union(
        sa.select(roots.c.digest),
        sa.select(links.c.child.label("digest")).where(
            links.c.parent.in_(sa.select(roots.c.digest))
        ),
    ).subquery()
    cutoff = time.time() - grace_period_s
    unused = sa.and_(blobs.c.digest.not_in(sa.select(used.c.digest)), blobs.c.created < cutoff)
    unused_query = sa.select(blobs.c.digest, blobs.c.size).where(unused)
    report = GcReport(dry_run=dry_run)
    with store.reader() as conn:
        report.unreferenced = [(r.digest, r.size) for r in conn.execute(unused_query)]
        recorded = {r.digest for r in conn.execute(sa.select(blobs.c.digest))}
    report.orphans = [
        d for d, mtime in store.blobs.digests() if d not in recorded and mtime < cutoff
    ]
    if dry_run:
        return report
    for digest, _ in report.unreferenced:
        # The row goes first, inside a check that it is still unused: a run that started
        # using the blob meanwhile keeps it. Only then the bytes.
        with store.writer() as conn:
            deleted = conn.execute(blobs.delete().where(blobs.c.digest == digest, unused)).rowcount
            if deleted:
                conn.execute(links.delete().where(links.c.parent == digest))
        if deleted:
            store.blobs.delete(digest)
    for digest in report.orphans:
        store.blobs.delete(digest)
    return report
