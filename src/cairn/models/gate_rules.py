"""Which gates guard which alias: stored in the registry, so the CLI, the API and a server
all apply the same ones."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import InvalidValueError, NotFoundError
from cairn.models import audit
from cairn.models.gates import Gate, gate_from_spec
from cairn.models.references import check_alias, check_model_name
from cairn.models.versions import lock_model, require_model
from cairn.store import Store, get_store, schema


@dataclass(frozen=True)
class GateRule:
    id: int
    name: str
    alias: str
    gate: Gate
    created: float

    def __str__(self) -> str:
        return f"#{self.id} {self.name}@{self.alias}: {self.gate.describe()}"


def add_gate(name: str, alias: str, gate: Gate, *, store: Store | None = None) -> GateRule:
    """Guard `name@alias` with `gate`: every later move of the alias runs it."""
    store = store or get_store()
    check_model_name(name)
    check_alias(alias)
    to_spec = getattr(gate, "to_spec", None)
    if not callable(to_spec):
        raise InvalidValueError(
            f"{gate!r} is not a gate; build one with cairn.models.gates (metric, not_worse, ...)"
        )
    spec = to_spec()
    gate_from_spec(spec)  # what is stored must load again
    now = time.time()
    with store.writer() as conn:
        lock_model(conn, name)  # a move committing now sees this gate, or ran before it
        gate_id = conn.execute(
            schema.model_gates.insert().values(
                name=name, alias=alias, spec=json.dumps(spec, sort_keys=True), created=now
            )
        ).inserted_primary_key[0]
        audit.record(
            conn, audit.Action.GATE_ADD, audit.model_subject(name),
            after={"id": gate_id, "alias": alias, "gate": gate.describe(), "spec": spec},
        )  # fmt: skip
    return GateRule(gate_id, name, alias, gate, now)


def remove_gate(name: str, gate_id: int, *, store: Store | None = None) -> GateRule:
    store = store or get_store()
    check_model_name(name)
    table = schema.model_gates
    with store.writer() as conn:
        lock_model(conn, name)
        rows = rules_for(conn, name, gate_id=gate_id)
        if not rows:
            raise NotFoundError(
                f"model {name!r} has no gate #{gate_id}; `cairn models gates {name}` lists them"
            )
        conn.execute(table.delete().where(table.c.id == gate_id))
        audit.record(
            conn, audit.Action.GATE_REMOVE, audit.model_subject(name),
            before={"id": gate_id, "alias": rows[0].alias, "gate": rows[0].gate.describe()},
        )  # fmt: skip
    return rows[0]


def list_gates(
    name: str, alias: str | None = None, *, store: Store | None = None
) -> list[GateRule]:
    """The gates of `name` (of one alias, if given), oldest first."""
    store = store or get_store()
    check_model_name(name)
    with store.reader() as conn:
        require_model(conn, name)
        return rules_for(conn, name, alias)


def rules_for(
    conn: sa.Connection, name: str, alias: str | None = None, *, gate_id: int | None = None
) -> list[GateRule]:
    """The gates of `name` (of one alias; the one numbered `gate_id`), oldest first, read on
    the caller's connection: a move of `name@alias` runs these."""
    table = schema.model_gates
    query = sa.select(table).where(table.c.name == name).order_by(table.c.id)
    if alias is not None:
        query = query.where(table.c.alias == alias)
    if gate_id is not None:
        query = query.where(table.c.id == gate_id)
    return [
        GateRule(r.id, r.name, r.alias, gate_from_spec(json.loads(r.spec)), r.created)
        for r in conn.execute(query)
    ]
