"""Registering model versions and finding them: by number, alias, `latest`, or as of a moment.

A model version is an artifact of kind "model" (its payload is one blob, written by the
model's flavor) plus a `model_versions` row: flavor, signature, example, owner, description,
the run that made it. The artifact makes it a node of lineage and time travel like any other;
the row and the `register` event are written in the artifact's own transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.errors import CairnError, InvalidValueError, NotFoundError, VersionContentionError
from cairn.models import audit, delivery, hooks
from cairn.models.flavors.protocol import Flavor
from cairn.models.flavors.registry import detect, flavor_named
from cairn.models.references import (
    LATEST,
    ModelRef,
    check_model_name,
    check_owner,
    no_model,
    parse_ref,
    parse_version,
)
from cairn.models.signature import conform, infer_signature
from cairn.store import Store, get_store, schema
from cairn.store.moments import When, checked_timestamp
from cairn.tracking import active
from cairn.tracking.artifacts import ArtifactRef, insert_artifact, next_version, resolve
from cairn.tracking.validation import check_name

KIND = "model"
MAX_REGISTER_RETRIES = 20


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    flavor: str
    owner: str
    description: str
    run_id: str | None
    created: float
    archived: float | None
    artifact_id: int
    digest: str
    signature: dict | None = field(default=None, compare=False, hash=False)  # its JSON form
    example: str | None = None  # blob digest of the example input
    tags: dict = field(default_factory=dict, compare=False, hash=False)
    aliases: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def artifact(self) -> ArtifactRef:
        """The artifact holding the payload: a node of the lineage graph."""
        return ArtifactRef(
            self.artifact_id, self.name, self.version, self.digest, self.run_id, KIND, self.created
        )

    @property
    def node(self) -> str:
        return self.artifact.node


@dataclass(frozen=True)
class ModelInfo:
    name: str
    owner: str
    description: str
    created: float
    versions: int
    latest: int | None  # the newest version not archived
    updated: float  # the newest version's registration
    aliases: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def register(
    name: str,
    model_or_ref: object,
    run: object = None,
    *,
    owner: str | None = None,
    description: str = "",
    example: object = None,
    tags: Mapping[str, object] | None = None,
    flavor: str | None = None,
    store: Store | None = None,
) -> ModelVersion:
    """Register `model_or_ref` (a model, or the reference of an artifact holding one) as the
    next version of `name`; identical bytes return the version that already holds them.

    `owner` (a user or team) is required for a new model; later versions take the model's.
    `run` (a run or run id) defaults to the active run, or the artifact's producing run.
    `example` (a few input rows) is checked against the model, stored, and gives the
    version its signature."""
    store = store or get_store()
    check_model_name(name)
    if not isinstance(description, str):
        raise InvalidValueError(f"description must be text, got {description!r}")
    tag_values = _checked_tags(tags)
    model, run_id = _model_and_run(store, model_or_ref, run)
    owner = _owner_for(store, name, owner)
    with store.reader() as conn:
        _refuse_other_kinds(conn, name)
    impl = flavor_named(flavor) if flavor is not None else detect(model)
    signature = None
    if example is not None:
        outputs = _predict_example(impl, model, example)
        signature = infer_signature(example, outputs).to_json()
    digest = store.put_value(flavor_payload(impl, model, example), codec="bytes")
    example_digest = store.put_value(example) if example is not None else None
    existing = _version_with_digest(store, name, digest)
    if existing is not None:
        return existing
    row = {
        "flavor": impl.name,
        "signature": json.dumps(signature, sort_keys=True) if signature else None,
        "example": example_digest,
        "owner": owner,
        "description": description,
        "run_id": run_id,
    }
    for _ in range(MAX_REGISTER_RETRIES):
        attempt = _Attempt()
        try:
            with store.writer() as conn:
                version, queued = _insert_version(conn, name, digest, row, tag_values, attempt)
        except sa.exc.IntegrityError as exc:
            existing = _version_with_digest(store, name, digest)
            if existing is not None:
                return existing
            if not _taken(store, name, attempt):
                raise CairnError(
                    f"could not register {name!r}: the database refused the new version "
                    f"({exc.orig})"
                ) from exc
            continue  # another writer took the number (or created the model) first
        if queued:
            delivery.kick(store)
        return get_version(ModelRef(name, version=version), store=store)
    raise VersionContentionError(
        f"could not register {name!r}: other writers kept taking the next version number; try again"
    )


@dataclass
class _Attempt:
    """What one try at inserting a version meant to take, so that after an IntegrityError
    `_taken` can tell contention (another writer took it first) from any other refusal."""

    new_model: bool = False
    version: int | None = None
    artifact_version: int | None = None


def _insert_version(
    conn: sa.Connection,
    name: str,
    digest: str,
    row: dict,
    tag_values: dict[str, str],
    attempt: _Attempt,
) -> tuple[int, bool]:
    """The new version's number, and whether webhook deliveries were queued; or the number
    of a version another writer registered these bytes as meanwhile (nothing written)."""
    models, versions = schema.models, schema.model_versions
    now = time.time()
    if lock_model(conn, name, missing_ok=True):
        # Under the lock, so a writer that registered the same bytes since `register` looked
        # is seen: identical bytes stay one version.
        same = _number_with_digest(conn, name, digest)
        if same is not None:
            return same, False
    else:
        _refuse_other_kinds(conn, name)
        attempt.new_model = True
        conn.execute(
            models.insert().values(
                name=name, owner=row["owner"], description=row["description"], created=now
            )
        )
    latest = conn.execute(
        sa.select(sa.func.max(versions.c.version)).where(versions.c.name == name)
    ).scalar()
    version = attempt.version = (latest or 0) + 1
    attempt.artifact_version = next_version(conn, name)
    artifact = insert_artifact(
        conn, row["run_id"], name, attempt.artifact_version, KIND, digest,
        {"model_version": version},
    )  # fmt: skip
    conn.execute(
        versions.insert().values(
            name=name, version=version, artifact_id=artifact.id, created=now, **row
        )
    )
    if tag_values:
        conn.execute(
            schema.model_tags.insert(),
            [
                {"name": name, "version": version, "key": k, "value": v}
                for k, v in tag_values.items()
            ],
        )
    after = {"flavor": row["flavor"], "digest": digest, "run": row["run_id"], "owner": row["owner"]}
    event = audit.record(
        conn, audit.Action.REGISTER, audit.model_subject(name, version), after=after,
        tags=tag_values or None,
    )  # fmt: skip
    queued = hooks.enqueue(conn, event, hooks.HookEvent.VERSION, {"name": name, "version": version})
    return version, bool(queued)


def _taken(store: Store, name: str, attempt: _Attempt) -> bool:
    """Whether another writer now holds what `attempt` tried to create."""
    models, versions, artifacts = schema.models, schema.model_versions, schema.artifacts
    queries = []
    if attempt.new_model:
        queries.append(sa.select(models.c.name).where(models.c.name == name))
    if attempt.version is not None:
        queries.append(
            sa.select(versions.c.version).where(
                versions.c.name == name, versions.c.version == attempt.version
            )
        )
    if attempt.artifact_version is not None:
        queries.append(
            sa.select(artifacts.c.id).where(
                artifacts.c.name == name, artifacts.c.version == attempt.artifact_version
            )
        )
    with store.reader() as conn:
        return any(conn.execute(query).first() is not None for query in queries)


def _refuse_other_kinds(conn: sa.Connection, name: str) -> None:
    table = schema.artifacts
    other = conn.execute(
        sa.select(table.c.kind).where(table.c.name == name, table.c.kind != KIND).limit(1)
    ).scalar()
    if other is not None:
        raise InvalidValueError(
            f"{name!r} is already the name of a {other} artifact; choose another model name"
        )


def _checked_tags(tags: Mapping[str, object] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidValueError(f"tags must be a mapping of names to values, got {tags!r}")
    return {check_name(k, "tag name"): str(v) for k, v in tags.items()}


def _model_and_run(store: Store, model_or_ref: object, run: object) -> tuple[object, str | None]:
    produced_by = None
    model = model_or_ref
    if isinstance(model_or_ref, ArtifactRef | str):
        artifact = resolve(store, model_or_ref)
        model, produced_by = store.get_value(artifact.digest), artifact.run_id
    if run is None:
        current = active.current()
        run_id = current.id if current is not None else produced_by
    else:
        run_id = getattr(run, "id", run)
        if not isinstance(run_id, str):
            raise InvalidValueError(f"run must be a run or a run id, got {run!r}")
        with store.reader() as conn:
            found = conn.execute(
                sa.select(schema.runs.c.id).where(schema.runs.c.id == run_id.upper())
            ).scalar()
        if found is None:
            raise NotFoundError(f"no run {run_id} in {store.description}")
        run_id = found
    return model, run_id


def _owner_for(store: Store, name: str, owner: str | None) -> str:
    with store.reader() as conn:
        current = conn.execute(
            sa.select(schema.models.c.owner).where(schema.models.c.name == name)
        ).scalar()
    if owner is None:
        if current is None:
            raise InvalidValueError(
                f"model {name!r} is new: give its owner, the user or team who answers for it "
                "(owner='alice')"
            )
        return current
    check_owner(owner)
    if current is not None and owner != current:
        raise InvalidValueError(
            f"model {name!r} is owned by {current!r}; `cairn models transfer {name} {owner}` "
            "hands it over"
        )
    return owner


def _predict_example(impl: object, model: object, example: object) -> object:
    try:
        return impl.predict(model, conform(None, example))
    except CairnError:
        raise
    except Exception as exc:
        raise InvalidValueError(
            f"the example does not fit the model: predicting on it raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _version_with_digest(store: Store, name: str, digest: str) -> ModelVersion | None:
    with store.reader() as conn:
        number = _number_with_digest(conn, name, digest)
    return None if number is None else get_version(ModelRef(name, version=number), store=store)


def _number_with_digest(conn: sa.Connection, name: str, digest: str) -> int | None:
    """The first version of `name` whose payload is `digest`."""
    versions, artifacts = schema.model_versions, schema.artifacts
    return conn.execute(
        sa.select(versions.c.version)
        .join(artifacts, artifacts.c.id == versions.c.artifact_id)
        .where(versions.c.name == name, artifacts.c.digest == digest)
        .order_by(versions.c.version)
        .limit(1)
    ).scalar()


def _versions_query() -> sa.Select:
    versions, artifacts = schema.model_versions, schema.artifacts
    return sa.select(versions, artifacts.c.digest).join(
        artifacts, artifacts.c.id == versions.c.artifact_id
    )


def _from_row(row: sa.Row, tags: dict, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        row.name, row.version, row.flavor, row.owner, row.description, row.run_id, row.created,
        row.archived, row.artifact_id, row.digest,
        json.loads(row.signature) if row.signature else None, row.example, tags, aliases,
    )  # fmt: skip


def get_version(
    ref: str | ModelRef, *, as_of: When | None = None, store: Store | None = None
) -> ModelVersion:
    """The version `ref` names (`digits/3`, `digits@production`, `digits@latest`); with
    `as_of`, the one an alias (or `latest`) named at that moment."""
    store = store or get_store()
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    at = checked_timestamp(store, as_of) if as_of is not None else None
    with store.reader() as conn:
        number = _number_of(conn, ref, at)
        row = conn.execute(
            _versions_query().where(
                schema.model_versions.c.name == ref.name,
                schema.model_versions.c.version == number,
            )
        ).first()
        if row is None:
            _raise_no_version(conn, ref)
        tags, aliases = _tags_and_aliases(conn, ref.name, [number])
    return _from_row(row, tags.get(number, {}), aliases.get(number, ()))


def _number_of(conn: sa.Connection, ref: ModelRef, at: float | None) -> int:
    versions = schema.model_versions
    if ref.version is not None:
        return ref.version
    if ref.alias not in (None, LATEST):
        number = _alias_target(conn, ref.name, ref.alias, at)
        if number is None:
            _raise_no_alias(conn, ref, at)
        return number
    query = sa.select(sa.func.max(versions.c.version)).where(versions.c.name == ref.name)
    if at is None:
        query = query.where(versions.c.archived.is_(None))
    else:  # the newest version registered by then and not archived by then
        query = query.where(
            versions.c.created <= at,
            sa.or_(versions.c.archived.is_(None), versions.c.archived > at),
        )
    number = conn.execute(query).scalar()
    if number is None:
        _raise_no_version(conn, ref)
    return number


def _alias_target(conn: sa.Connection, name: str, alias: str, at: float | None) -> int | None:
    if at is None:
        aliases = schema.model_aliases
        return conn.execute(
            sa.select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
        ).scalar()
    moves = schema.alias_moves
    last = conn.execute(
        sa.select(moves.c.version)
        .where(moves.c.name == name, moves.c.alias == alias, moves.c.ts <= at)
        .order_by(moves.c.ts.desc(), moves.c.id.desc())
        .limit(1)
    ).first()
    return None if last is None else last.version


def _raise_no_alias(conn: sa.Connection, ref: ModelRef, at: float | None) -> None:
    require_model(conn, ref.name)
    aliases = schema.model_aliases
    known = sorted(
        conn.execute(sa.select(aliases.c.alias).where(aliases.c.name == ref.name)).scalars()
    )
    when = " at that moment" if at is not None else ""
    raise NotFoundError(
        f"model {ref.name!r} has no alias {ref.alias!r}{when}; its aliases: "
        f"{', '.join(known) or 'none'} "
        f"(`cairn models promote {ref.name} VERSION {ref.alias}` sets it)"
    )


def _raise_no_version(conn: sa.Connection, ref: ModelRef) -> None:
    require_model(conn, ref.name)
    versions = schema.model_versions
    known = list(
        conn.execute(
            sa.select(versions.c.version)
            .where(versions.c.name == ref.name)
            .order_by(versions.c.version)
        ).scalars()
    )
    if ref.version is None:
        raise NotFoundError(f"model {ref.name!r} has no version that is not archived")
    raise NotFoundError(
        f"model {ref.name!r} has no version {ref.version}; its versions: {_ranges(known) or 'none'}"
    )


def _ranges(numbers: list[int]) -> str:
    """1-20, 22 for people reading an error."""
    parts: list[str] = []
    for n in numbers:
        if parts and parts[-1][1] == n - 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])  # type: ignore[arg-type]
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def require_model(conn: sa.Connection, name: str) -> None:
    found = conn.execute(
        sa.select(schema.models.c.name).where(schema.models.c.name == name)
    ).first()
    if found is None:
        raise no_model(name)


def lock_model(conn: sa.Connection, name: str, *, missing_ok: bool = False) -> bool:
    """Hold model `name`'s row until `conn`'s transaction ends, so that writers of one
    model's versions, aliases and archival take turns and each sees what the one before it
    committed (a PostgreSQL row lock; SQLite's writer lock already serializes every writer).
    Returns whether the model exists; a missing model is a NotFoundError unless
    `missing_ok`."""
    models = schema.models
    found = (
        conn.execute(
            sa.select(models.c.name).where(models.c.name == name).with_for_update()
        ).first()
        is not None
    )
    if not found and not missing_ok:
        raise no_model(name)
    return found


def archived_at(conn: sa.Connection, name: str, number: int) -> float | None:
    """When version `number` of `name` was archived, as `conn` sees it; None if it is not."""
    versions = schema.model_versions
    return conn.execute(
        sa.select(versions.c.archived).where(versions.c.name == name, versions.c.version == number)
    ).scalar()


def _tags_and_aliases(
    conn: sa.Connection, name: str, numbers: list[int] | None = None
) -> tuple[dict[int, dict[str, str]], dict[int, tuple[str, ...]]]:
    tags_t, aliases_t = schema.model_tags, schema.model_aliases
    tag_query = sa.select(tags_t).where(tags_t.c.name == name)
    alias_query = sa.select(aliases_t).where(aliases_t.c.name == name).order_by(aliases_t.c.alias)
    if numbers is not None:
        tag_query = tag_query.where(tags_t.c.version.in_(numbers))
        alias_query = alias_query.where(aliases_t.c.version.in_(numbers))
    tags: dict[int, dict[str, str]] = {}
    for row in conn.execute(tag_query):
        tags.setdefault(row.version, {})[row.key] = row.value
    aliases: dict[int, list[str]] = {}
    for row in conn.execute(alias_query):
        aliases.setdefault(row.version, []).append(row.alias)
    return tags, {k: tuple(v) for k, v in aliases.items()}


def list_versions(
    name: str, *, include_archived: bool = True, store: Store | None = None
) -> list[ModelVersion]:
    """Every version of `name`, oldest first."""
    store = store or get_store()
    check_model_name(name)
    query = _versions_query().where(schema.model_versions.c.name == name)
    if not include_archived:
        query = query.where(schema.model_versions.c.archived.is_(None))
    with store.reader() as conn:
        require_model(conn, name)
        rows = conn.execute(query.order_by(schema.model_versions.c.version)).all()
        tags, aliases = _tags_and_aliases(conn, name)
    return [_from_row(r, tags.get(r.version, {}), aliases.get(r.version, ())) for r in rows]


def get_model(name: str, *, store: Store | None = None) -> ModelInfo:
    store = store or get_store()
    infos = _model_infos(store, check_model_name(name))
    if not infos:
        raise no_model(name)
    return infos[0]


def list_models(*, store: Store | None = None) -> list[ModelInfo]:
    """Every model, by name, with its version count, newest version and aliases."""
    return _model_infos(store or get_store(), None)


def _model_infos(store: Store, name: str | None) -> list[ModelInfo]:
    models, versions, aliases_t = schema.models, schema.model_versions, schema.model_aliases
    counts = (
        sa.select(
            versions.c.name,
            sa.func.count().label("versions"),
            sa.func.max(sa.case((versions.c.archived.is_(None), versions.c.version))).label(
                "latest"
            ),
            sa.func.max(versions.c.created).label("updated"),
        )
        .group_by(versions.c.name)
        .subquery()
    )
    query = sa.select(models, counts.c.versions, counts.c.latest, counts.c.updated).join(
        counts, counts.c.name == models.c.name
    )
    alias_query = sa.select(aliases_t)
    tag_query = sa.select(schema.model_tags).where(schema.model_tags.c.version == 0)
    if name is not None:
        query = query.where(models.c.name == name)
        alias_query = alias_query.where(aliases_t.c.name == name)
        tag_query = tag_query.where(schema.model_tags.c.name == name)
    with store.reader() as conn:
        rows = conn.execute(query.order_by(models.c.name)).all()
        by_model: dict[str, dict[str, int]] = {}
        for a in conn.execute(alias_query.order_by(aliases_t.c.alias)):
            by_model.setdefault(a.name, {})[a.alias] = a.version
        tags: dict[str, dict[str, str]] = {}
        for t in conn.execute(tag_query):
            tags.setdefault(t.name, {})[t.key] = t.value
    return [
        ModelInfo(
            r.name,
            r.owner,
            r.description,
            r.created,
            r.versions,
            r.latest,
            r.updated,
            by_model.get(r.name, {}),
            tags.get(r.name, {}),
        )  # fmt: skip
        for r in rows
    ]


def archive(name: str, version: int | str, *, store: Store | None = None) -> ModelVersion:
    """Retire a version: `latest` skips it, and no alias may move to it. A version an alias
    points to cannot be archived; `unarchive` brings it back."""
    return _set_archived(name, version, True, store or get_store())


def unarchive(name: str, version: int | str, *, store: Store | None = None) -> ModelVersion:
    """Bring an archived version back: `latest` counts it again and aliases may move to it."""
    return _set_archived(name, version, False, store or get_store())


def _set_archived(name: str, version: int | str, archive: bool, store: Store) -> ModelVersion:
    check_model_name(name)
    ref = ModelRef(name, version=parse_version(version))
    number = get_version(ref, store=store).version
    with store.writer() as conn:
        # The lock makes an alias move that is committing now visible here (and this
        # archival visible to the next move), so an alias never lands on an archived version.
        lock_model(conn, name)
        before = archived_at(conn, name, number)
        if (before is not None) != archive:  # else it is as asked already: nothing to record
            if archive:
                _refuse_aliased(conn, name, number)
            after = time.time() if archive else None
            conn.execute(
                schema.model_versions.update()
                .where(
                    schema.model_versions.c.name == name, schema.model_versions.c.version == number
                )
                .values(archived=after)
            )
            audit.record(
                conn, audit.Action.ARCHIVE if archive else audit.Action.UNARCHIVE,
                audit.model_subject(name, number), before={"archived": before},
                after={"archived": after},
            )  # fmt: skip
    return get_version(ref, store=store)


def _refuse_aliased(conn: sa.Connection, name: str, number: int) -> None:
    aliases = schema.model_aliases
    holding = sorted(
        conn.execute(
            sa.select(aliases.c.alias).where(aliases.c.name == name, aliases.c.version == number)
        ).scalars()
    )
    if holding:
        raise InvalidValueError(
            f"{name}/{number} is what {', '.join(holding)} point(s) to; move or delete "
            f"the alias first (`cairn models promote {name} OTHER_VERSION {holding[0]}`)"
        )


def set_tag(
    name: str, key: str, value: object, *, version: int | None = None, store: Store | None = None
) -> None:
    """Tag the model (or one version of it)."""
    _change_tag(name, key, str(value), version, store or get_store())


def delete_tag(
    name: str, key: str, *, version: int | None = None, store: Store | None = None
) -> None:
    _change_tag(name, key, None, version, store or get_store())


def _change_tag(name: str, key: str, value: str | None, version: int | None, store: Store) -> None:
    check_model_name(name)
    check_name(key, "tag name")
    number = 0 if version is None else parse_version(version)
    if number:
        get_version(ModelRef(name, version=number), store=store)
    tags = schema.model_tags
    where = sa.and_(tags.c.name == name, tags.c.version == number, tags.c.key == key)
    with store.writer() as conn:
        require_model(conn, name)
        before = conn.execute(sa.select(tags.c.value).where(where)).scalar()
        if before == value:
            return
        conn.execute(tags.delete().where(where))
        if value is not None:
            conn.execute(tags.insert().values(name=name, version=number, key=key, value=value))
        action = audit.Action.TAG_SET if value is not None else audit.Action.TAG_DELETE
        subject = audit.model_subject(name, number or None)
        audit.record(conn, action, subject, before=before, after=value, key=key)


def flavor_payload(impl: Flavor, model: object, example: object = None) -> bytes:
    """`model` saved by its flavor; a flavor that cannot save it is an InvalidValueError
    that says to choose another."""
    try:
        return impl.save(model, example=example)
    except CairnError:
        raise
    except Exception as exc:
        raise InvalidValueError(
            f"the {impl.name} flavor cannot save a {type(model).__qualname__}: {exc}; "
            "pass flavor= to choose another"
        ) from exc
