"""Moving aliases: gates first, then the move, its gate results and its event in one
transaction, and every move kept so `as_of` can say where an alias pointed.

The gates run outside the transaction (they load models and may take minutes); the move
then checks, under the model's row lock, that the alias still points where it did when the
gates ran, that the alias's gates are still the ones that ran and that the version is not
archived meanwhile, and runs the gates again if another writer changed the alias or its
gates in between. Every gate run is an audit event, including those of a refused move and
of a round given up that way (marked `abandoned`, with why).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.config import current_user
from cairn.errors import CairnError, GateRefusedError, InvalidValueError, NotFoundError
from cairn.models import audit, delivery, hooks
from cairn.models.gate_rules import rules_for
from cairn.models.gates import Candidate, GateResult, run_gates
from cairn.models.references import ModelRef, check_alias, check_model_name, parse_version
from cairn.models.versions import archived_at, get_version, lock_model, require_model
from cairn.store import Store, get_store, schema
from cairn.store.database import dialect_insert

MAX_GATE_ROUNDS = 10
_ANYWHERE = object()  # a move whose gates did not depend on where the alias pointed


@dataclass(frozen=True)
class AliasMove:
    id: int
    name: str
    alias: str
    previous: int | None
    version: int | None  # None: the alias was deleted
    actor: str
    ts: float
    reason: str | None = None
    overridden: tuple[str, ...] = ()  # gates a forced move overrode
    results: tuple[GateResult, ...] = ()  # the gates this move ran
    queued: bool = field(default=False, repr=False, compare=False)  # webhook deliveries


def set_alias(
    name: str,
    alias: str,
    version: int | str,
    *,
    reason: str | None = None,
    force: bool = False,
    store: Store | None = None,
) -> AliasMove:
    """Point `name@alias` at `version` once its gates pass. A failing gate refuses with every
    reason (GateRefusedError); `force=True` with a `reason` moves it anyway and records who
    overrode which gate and why.

    A refused move moves nothing: no alias row, no `alias_moves` row, no `alias.set` event,
    no webhook delivery. Its gate runs are recorded all the same (`gate.run` events, one per
    gate), because every gate run is audited: who tried to put what where, and why it was
    stopped. If the alias already points at `version`, nothing runs and nothing is written:
    the alias's last move is returned."""
    store = store or get_store()
    check_model_name(name)
    check_alias(alias)
    number = parse_version(version)
    _check_reason(reason)
    if force and not (reason and reason.strip()):
        raise InvalidValueError("force=True overrides gates: give the reason (reason='...')")
    target = get_version(ModelRef(name, version=number), store=store)
    if target.archived is not None:
        raise _archived(name, number)
    for _ in range(MAX_GATE_ROUNDS):
        with store.reader() as conn:
            current_number = _pointing(conn, name, alias)
            if current_number == number:
                return _last_move(conn, name, alias)
            rules = rules_for(conn, name, alias)
        current = (
            None
            if current_number is None
            else get_version(ModelRef(name, version=current_number), store=store)
        )
        results = run_gates(
            [rule.gate for rule in rules], Candidate(store, name, alias, target, current)
        )
        failed = [r for r in results if not r.passed]
        if failed and not force:
            _record_refusal(store, name, alias, number, results)
            reasons = [f"{r.gate}: {r.reason}" for r in failed]
            raise GateRefusedError(
                f"{name}@{alias} -> {number} refused by {len(failed)} of {len(results)} "
                "gate(s):\n  " + "\n  ".join(reasons) + "\nfix the model, or move it with "
                "force=True and a reason (`--force --reason TEXT`)",
                reasons,
            )
        # Without gates nothing was judged against what the alias pointed to, so a move by
        # another writer meanwhile changes nothing: move from wherever it points now.
        ran = _Round(
            current_number if rules else _ANYWHERE, [rule.id for rule in rules], results, failed
        )
        move = _move(store, name, alias, number, reason, ran)
        if move is not None:
            if move.queued:
                delivery.kick(store)
            return move
    raise CairnError(
        f"{name}@{alias} kept moving while its gates ran ({MAX_GATE_ROUNDS} rounds); try again"
    )


def delete_alias(
    name: str, alias: str, *, reason: str | None = None, store: Store | None = None
) -> AliasMove:
    """Remove `name@alias`; the history keeps where it pointed."""
    store = store or get_store()
    check_model_name(name)
    check_alias(alias)
    _check_reason(reason)
    with store.writer() as conn:
        lock_model(conn, name)
        previous = _pointing(conn, name, alias)
        if previous is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}")
        aliases = schema.model_aliases
        conn.execute(aliases.delete().where(aliases.c.name == name, aliases.c.alias == alias))
        move = _write_move(conn, name, alias, previous, None, reason, (), ())
    if move.queued:
        delivery.kick(store)
    return move


def alias_history(
    name: str, alias: str | None = None, *, store: Store | None = None
) -> list[AliasMove]:
    """Every move of `name`'s aliases (or of one), oldest first."""
    store = store or get_store()
    check_model_name(name)
    moves = schema.alias_moves
    query = sa.select(moves).where(moves.c.name == name).order_by(moves.c.id)
    if alias is not None:
        query = query.where(moves.c.alias == alias)
    with store.reader() as conn:
        require_model(conn, name)
        return [_from_row(row) for row in conn.execute(query)]


def _from_row(row: sa.Row) -> AliasMove:
    overridden = tuple(json.loads(row.overridden)) if row.overridden else ()
    return AliasMove(
        row.id, row.name, row.alias, row.previous, row.version, row.actor, row.ts, row.reason,
        overridden,
    )  # fmt: skip


def _last_move(conn: sa.Connection, name: str, alias: str) -> AliasMove:
    moves = schema.alias_moves
    row = conn.execute(
        sa.select(moves)
        .where(moves.c.name == name, moves.c.alias == alias)
        .order_by(moves.c.id.desc())
        .limit(1)
    ).one()
    return _from_row(row)


def _pointing(conn: sa.Connection, name: str, alias: str) -> int | None:
    aliases = schema.model_aliases
    return conn.execute(
        sa.select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
    ).scalar()


def _check_reason(reason: object) -> None:
    if reason is not None and not isinstance(reason, str):
        raise InvalidValueError(f"reason must be text, got {reason!r}")


def _archived(name: str, number: int) -> InvalidValueError:
    return InvalidValueError(
        f"{name}/{number} is archived: `cairn models unarchive {name} {number}` brings it "
        "back, or choose another version"
    )


@dataclass(frozen=True)
class _Round:
    """What one round of a move judged: where the alias pointed (or _ANYWHERE), which gates
    ran, and what they said."""

    expected: int | None | object
    rule_ids: list[int]
    results: list[GateResult]
    failed: list[GateResult]


def _move(
    store: Store, name: str, alias: str, number: int, reason: str | None, ran: _Round
) -> AliasMove | None:
    """The move, if nothing it was judged on changed meanwhile; None (go another round) if
    another writer moved the alias or changed its gates, whose runs are then recorded as
    abandoned; the move that put the alias at `number` if another writer did."""
    with store.writer() as conn:
        lock_model(conn, name)
        pointing = _pointing(conn, name, alias)
        archived = archived_at(conn, name, number) is not None
        abandoned = None
        if archived:
            abandoned = "the version was archived while the gates ran"
        elif pointing == number:
            abandoned = "another writer moved the alias to this version while the gates ran"
        elif ran.expected is not _ANYWHERE and pointing != ran.expected:
            abandoned = "another writer moved the alias while the gates ran"
        elif [rule.id for rule in rules_for(conn, name, alias)] != ran.rule_ids:
            abandoned = "the alias's gates changed while they ran"
        _record_results(conn, name, alias, number, ran.results, abandoned)
        if abandoned is None:
            return _apply(conn, name, alias, pointing, number, reason, ran)
        last = _last_move(conn, name, alias) if pointing == number else None
    if archived:
        raise _archived(name, number)
    return last


def _apply(
    conn: sa.Connection,
    name: str,
    alias: str,
    pointing: int | None,
    number: int,
    reason: str | None,
    ran: _Round,
) -> AliasMove:
    now = time.time()
    conn.execute(
        dialect_insert(conn, schema.model_aliases)
        .values(name=name, alias=alias, version=number, updated=now)
        .on_conflict_do_update(
            index_elements=["name", "alias"], set_={"version": number, "updated": now}
        )
    )
    overridden = tuple(r.gate for r in ran.failed)
    if overridden:
        audit.record(
            conn, audit.Action.OVERRIDE, audit.model_subject(name, number),
            alias=alias, gates=list(overridden), reason=reason,
            reasons=[r.reason for r in ran.failed],
        )  # fmt: skip
    return _write_move(conn, name, alias, pointing, number, reason, overridden, ran.results)


def _write_move(
    conn: sa.Connection,
    name: str,
    alias: str,
    previous: int | None,
    number: int | None,
    reason: str | None,
    overridden: tuple[str, ...],
    results: list[GateResult] | tuple[()],
) -> AliasMove:
    actor, now = current_user(), time.time()
    move_id = conn.execute(
        schema.alias_moves.insert().values(
            name=name,
            alias=alias,
            previous=previous,
            version=number,
            actor=actor,
            ts=now,
            reason=reason,
            overridden=json.dumps(list(overridden)) if overridden else None,
        )  # fmt: skip
    ).inserted_primary_key[0]
    action = audit.Action.ALIAS_SET if number is not None else audit.Action.ALIAS_DELETE
    event = audit.record(
        conn, action, audit.model_subject(name), actor=actor,
        before=previous, after=number, alias=alias, reason=reason,
    )  # fmt: skip
    queued = hooks.enqueue(
        conn, event, hooks.HookEvent.ALIAS,
        {"name": name, "alias": alias, "previous": previous, "version": number},
    )  # fmt: skip
    return AliasMove(
        move_id, name, alias, previous, number, actor, now, reason, overridden, tuple(results),
        bool(queued),
    )  # fmt: skip


def _record_results(
    conn: sa.Connection,
    name: str,
    alias: str,
    number: int,
    results: list[GateResult],
    abandoned: str | None = None,
) -> None:
    """One `gate.run` event per result; `abandoned` says why a round's runs led nowhere."""
    for result in results:
        audit.record(
            conn, audit.Action.GATE_RUN, audit.model_subject(name, number),
            alias=alias, result=result.to_json(), abandoned=abandoned,
        )  # fmt: skip


def _record_refusal(
    store: Store, name: str, alias: str, number: int, results: list[GateResult]
) -> None:
    """A refused promotion moves nothing, but the gate runs that refused it are audit
    events: who tried to put what where, and why it was stopped."""
    with store.writer() as conn:
        _record_results(conn, name, alias, number, results)
