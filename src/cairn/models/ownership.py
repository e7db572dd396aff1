"""Who answers for a model, and what nobody looks after any more.

A model's owner has "acted on it" when an event about the model or one of its versions has
the owner as its actor. A version is in use while an alias points to it or a run loaded it
(its artifact's `used` edges in the lineage graph).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import InvalidValueError
from cairn.models import audit
from cairn.models.references import check_model_name, check_owner
from cairn.models.versions import lock_model
from cairn.states import TextEnum
from cairn.store import Store, get_store, schema
from cairn.store.nodes import Relation, artifact_node_sql

DAY_S = 86_400.0


class OrphanKind(TextEnum):
    MODEL = "model"  # its owner has not acted on it
    VERSION = "version"  # no alias points to it and nothing loaded it


@dataclass(frozen=True)
class Orphan:
    kind: OrphanKind
    name: str
    version: int | None
    owner: str
    last_active: float  # the owner's last action, or the version's last load or registration

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}/{self.version}"


def transfer(
    name: str, new_owner: str, *, reason: str | None = None, store: Store | None = None
) -> str:
    """Hand `name` over to `new_owner`; returns the previous owner."""
    store = store or get_store()
    check_model_name(name)
    check_owner(new_owner, "the new owner")
    if reason is not None and not isinstance(reason, str):
        raise InvalidValueError(f"reason must be text, got {reason!r}")
    models = schema.models
    with store.writer() as conn:
        lock_model(conn, name)
        before = conn.execute(sa.select(models.c.owner).where(models.c.name == name)).scalar()
        if before == new_owner:
            return before
        conn.execute(models.update().where(models.c.name == name).values(owner=new_owner))
        audit.record(
            conn, audit.Action.TRANSFER, audit.model_subject(name),
            before=before, after=new_owner, reason=reason,
        )  # fmt: skip
    return before


def orphans(
    days: float = 90, *, now: float | None = None, store: Store | None = None
) -> list[Orphan]:
    """Models whose owner has not acted on them in `days` days, and versions no alias points
    to that nothing has loaded in `days` days (registered before then)."""
    store = store or get_store()
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise InvalidValueError(f"days must be a number of days >= 0, got {days!r}")
    cutoff = (time.time() if now is None else now) - days * DAY_S
    with store.reader() as conn:
        return [*_idle_models(conn, cutoff), *_unused_versions(conn, cutoff)]


def _idle_models(conn: sa.Connection, cutoff: float) -> list[Orphan]:
    models, events = schema.models, schema.events
    subject = sa.literal("model/") + models.c.name
    # The versions' subjects start with "model/NAME/"; compared as a prefix, not with LIKE,
    # whose wildcards (_ and %) a model name may contain.
    versions_prefix = subject + "/"
    about_a_version = (
        sa.func.substr(events.c.subject, 1, sa.func.length(versions_prefix)) == versions_prefix
    )
    acted = (
        sa.select(sa.func.max(events.c.ts))
        .where(
            events.c.actor == models.c.owner, sa.or_(events.c.subject == subject, about_a_version)
        )
        .scalar_subquery()
    )
    last = sa.func.coalesce(acted, models.c.created)
    rows = conn.execute(
        sa.select(models.c.name, models.c.owner, last.label("last"))
        .where(last < cutoff)
        .order_by(models.c.name)
    )
    return [Orphan(OrphanKind.MODEL, r.name, None, r.owner, r.last) for r in rows]


def _unused_versions(conn: sa.Connection, cutoff: float) -> list[Orphan]:
    versions, models = schema.model_versions, schema.models
    aliases, edges = schema.model_aliases, schema.lineage_edges
    loaded = (
        sa.select(sa.func.max(edges.c.created))
        .where(
            edges.c.dst == artifact_node_sql(versions.c.artifact_id),
            edges.c.relation == Relation.USED.value,
        )
        .scalar_subquery()
    )
    last = sa.func.coalesce(loaded, versions.c.created)
    pointed = sa.exists().where(
        aliases.c.name == versions.c.name, aliases.c.version == versions.c.version
    )
    rows = conn.execute(
        sa.select(versions.c.name, versions.c.version, models.c.owner, last.label("last"))
        .join(models, models.c.name == versions.c.name)
        .where(~pointed, versions.c.archived.is_(None), last < cutoff)
        .order_by(versions.c.name, versions.c.version)
    )
    return [Orphan(OrphanKind.VERSION, r.name, r.version, r.owner, r.last) for r in rows]
