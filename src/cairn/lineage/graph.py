"""The provenance graph: artifacts, runs and predictions, walked with one recursive query.

Edges live in `lineage_edges` (src was derived from dst). Upstream ("where did this come
from") follows src -> dst, downstream ("what depends on this") dst -> src. The walk is a
recursive CTE, so it runs inside the database on SQLite and PostgreSQL alike and costs
time in proportion to the answer, not to the size of the history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.errors import CairnError, InvalidValueError, NotFoundError
from cairn.states import TextEnum
from cairn.store import Store, get_store, schema
from cairn.store.nodes import (
    NodeKind,
    Relation,
    artifact_node,
    parse_node,
    prediction_node,
    run_node,
)
from cairn.tracking import liveness
from cairn.tracking.artifacts import ArtifactRef, resolve

_CHUNK = 500  # ids per IN list, within SQLite's variable limit


@dataclass
class Node:
    id: str  # "artifact:12", "run:01H..." or "prediction:01H...", built by cairn.store.nodes
    kind: NodeKind
    label: str
    attrs: dict = field(default_factory=dict)


class Walk(TextEnum):
    """Which way a lineage walk goes from its subject."""

    UP = "up"  # what it came from
    DOWN = "down"  # what was made from it


@dataclass
class LineageGraph:
    root: str
    direction: Walk
    nodes: dict[str, Node]
    edges: list[tuple[str, str, Relation]]  # (src, dst, relation): src was derived from dst

    def children(self, node: str) -> list[tuple[str, str]]:
        """The next nodes from `node` in the walk's direction, with the relation."""
        if self.direction is Walk.UP:
            return [(dst, rel) for src, dst, rel in self.edges if src == node]
        return [(src, rel) for src, dst, rel in self.edges if dst == node]

    def artifacts(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind is NodeKind.ARTIFACT]

    def runs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind is NodeKind.RUN]


def node_of(subject: object, store: Store) -> str:
    """The graph node for an artifact reference, a run, a run id or a prediction id."""
    if isinstance(subject, ArtifactRef):
        return subject.node
    node = getattr(subject, "node", None)  # anything that is a node: a model version
    if isinstance(node, str):
        return _checked_node(node)
    run_id = getattr(subject, "id", None)
    if isinstance(run_id, str) and hasattr(subject, "experiment"):
        return run_node(run_id)
    if isinstance(subject, str):
        if subject.startswith(tuple(f"{kind.value}:" for kind in NodeKind)):
            return _checked_node(subject)
        ulid = subject.upper()
        runs, predictions = schema.runs, schema.predictions
        with store.reader() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == ulid)).first():
                return run_node(ulid)
            # A prediction id is a ULID like a run id (only a sample of predictions is kept).
            if conn.execute(sa.select(predictions.c.id).where(predictions.c.id == ulid)).first():
                return prediction_node(ulid)
        return resolve(store, subject).node
    raise CairnError(
        f"lineage of {subject!r}: pass an artifact reference, a run, a run id or a prediction id"
    )


def _checked_node(text: str) -> str:
    """A node id given as text, normalized; an artifact's id must be a number."""
    try:
        kind, ident = parse_node(text)
    except ValueError:
        raise NotFoundError(
            f"{text!r} is not a node id (artifact:ID, run:ID or prediction:ID)"
        ) from None
    if kind is NodeKind.RUN:
        return run_node(ident.upper())
    if kind is NodeKind.PREDICTION:
        return prediction_node(ident.upper())
    if not ident.isdigit():
        raise NotFoundError(f"{text!r} names no artifact: artifact ids are numbers")
    return artifact_node(int(ident))


def lineage(
    subject: object,
    direction: Walk | str = Walk.UP,
    depth: int | None = None,
    *,
    as_of: float | None = None,
    store: Store | None = None,
) -> LineageGraph:
    """Everything `subject` came from (`up`) or everything made from it (`down`)."""
    try:
        direction = Walk(direction)
    except ValueError:
        raise InvalidValueError(f"direction must be 'up' or 'down', not {direction!r}") from None
    if depth is not None and depth < 0:
        raise InvalidValueError(f"depth must be 0 or more, not {depth}")
    store = store or get_store()
    root = node_of(subject, store)
    edges_table = schema.lineage_edges
    here, there = (
        (edges_table.c.src, edges_table.c.dst)
        if direction is Walk.UP
        else (edges_table.c.dst, edges_table.c.src)
    )
    when = [edges_table.c.created <= as_of] if as_of is not None else []
    if depth is None:
        walk = sa.select(sa.literal(root, sa.String(64)).label("node")).cte("walk", recursive=True)
        walk = walk.union(sa.select(there).join(walk, here == walk.c.node).where(*when))
    else:
        walk = sa.select(
            sa.literal(root, sa.String(64)).label("node"), sa.literal(0).label("depth")
        ).cte("walk", recursive=True)
        walk = walk.union(
            sa.select(there, walk.c.depth + 1)
            .join(walk, here == walk.c.node)
            .where(walk.c.depth < depth, *when)
        )
    # The edges leaving every reached node, through the same index the walk used; edges to
    # nodes past the depth limit are dropped below.
    step = sa.select(edges_table.c.src, edges_table.c.dst, edges_table.c.relation).join(
        walk, here == walk.c.node
    )
    with store.reader() as conn:
        node_ids = set(conn.execute(sa.select(walk.c.node).distinct()).scalars())
        edges = {
            (r.src, r.dst, Relation(r.relation))
            for r in conn.execute(step.where(*when))
            if r.src in node_ids and r.dst in node_ids
        }
        nodes = _describe(conn, node_ids)
    if root not in nodes:
        raise NotFoundError(f"{root} is not in {store.description}")
    _add_commits(store, nodes.values())
    return LineageGraph(root, direction, nodes, sorted(edges))


def _describe(conn: sa.Connection, node_ids: set[str]) -> dict[str, Node]:
    parsed = [parse_node(n) for n in node_ids]
    artifact_ids = [int(ident) for kind, ident in parsed if kind is NodeKind.ARTIFACT]
    run_ids = [ident for kind, ident in parsed if kind is NodeKind.RUN]
    prediction_ids = [ident for kind, ident in parsed if kind is NodeKind.PREDICTION]
    nodes: dict[str, Node] = {}
    table = schema.artifacts
    for chunk in _chunks(artifact_ids):
        for r in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
            node = artifact_node(r.id)
            nodes[node] = Node(
                node,
                NodeKind.ARTIFACT,
                f"{r.name}:{r.version}",
                {
                    "name": r.name,
                    "version": r.version,
                    "kind": r.kind,
                    "digest": r.digest,
                    "created": r.created,
                    **(json.loads(r.meta) if r.meta else {}),
                },
            )
    runs, experiments = schema.runs, schema.experiments
    for chunk in _chunks(run_ids):
        live = liveness.observe(conn, runs.c.id.in_(chunk))  # a dead process's run: crashed
        query = (
            sa.select(
                runs,
                experiments.c.name.label("experiment"),
                live.status().label("live_status"),
                live.ended().label("live_ended"),
            )
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(runs.c.id.in_(chunk))
        )
        for r in conn.execute(query):
            node = run_node(r.id)
            nodes[node] = Node(
                node,
                NodeKind.RUN,
                f"{r.experiment}/{r.name}",
                {
                    "id": r.id,
                    "name": r.name,
                    "experiment": r.experiment,
                    "status": r.live_status,
                    "started": r.started,
                    "ended": r.live_ended,
                    "user": r.user,
                    "code_ref": r.code_ref,
                    "params": {},
                },
            )
        params = schema.params
        for p in conn.execute(sa.select(params).where(params.c.run_id.in_(chunk))):
            nodes[run_node(p.run_id)].attrs["params"][p.key] = json.loads(p.value)
    predictions = schema.predictions
    described = [  # not the inputs and outputs: a walk down may reach many predictions
        predictions.c[name]
        for name in ("id", "name", "version", "ts", "route", "latency_ms", "shadow", "fallback")
    ]
    for chunk in _chunks(prediction_ids):
        for r in conn.execute(sa.select(*described).where(predictions.c.id.in_(chunk))):
            node = prediction_node(r.id)
            label = f"{r.name}/{r.version}"
            nodes[node] = Node(node, NodeKind.PREDICTION, label, r._asdict())
    return nodes


def _add_commits(store: Store, nodes: Iterable[Node]) -> None:
    """Each run's git commit, read once per code record: runs of one checkout share it."""
    code: dict[str, dict | None] = {}
    for node in nodes:
        digest = node.attrs.get("code_ref") if node.kind is NodeKind.RUN else None
        if digest is None:
            continue
        if digest not in code:
            try:
                code[digest] = store.get_value(digest)
            except NotFoundError:
                code[digest] = None
        node.attrs["commit"] = (code[digest] or {}).get("commit")


def _chunks(items: list) -> list[list]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
