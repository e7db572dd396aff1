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
from cairn.models.references import check_alias
from cairn.models.versions import require_model
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
    check_alias(alias)
    spec = getattr(gate, "to_spec", None)
    if spec is None:
        raise InvalidValueError(
            f"{gate!r} is not a gate; build one with cairn.models.gates (metric, not_worse, ...)"
        )
    spec = gate.to_spec()
    gate_from_spec(spec)  # what is stored must load again
    now = time.time()
    with store.writer() as conn:
        require_model(conn, name)
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
    table = schema.model_gates
    with store.writer() as conn:
        rows = _rules(conn, name, None, gate_id)
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
    with store.reader() as conn:
        require_model(conn, name)
        return _rules(conn, name, alias)


def gates_for(conn: sa.Connection, name: str, alias: str) -> list[GateRule]:
    """The gates a move of `name@alias` runs, read on the caller's connection."""
    return _rules(conn, name, alias)


def _rules(
    conn: sa.Connection, name: str, alias: str | None, gate_id: int | None = None
) -> list[GateRule]:
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
