"""Lineage node ids: how a run or an artifact is named in `lineage_edges` (`run:ULID`,
`artifact:ID`). Built and parsed only here, so the packages that write edges and the ones
that walk them cannot disagree."""

from __future__ import annotations

import sqlalchemy as sa

from cairn.states import TextEnum


class NodeKind(TextEnum):
    RUN = "run"
    ARTIFACT = "artifact"


def run_node(run_id: str) -> str:
    return f"{NodeKind.RUN.value}:{run_id}"


def artifact_node(artifact_id: int) -> str:
    return f"{NodeKind.ARTIFACT.value}:{artifact_id}"


def artifact_node_sql(artifact_id: sa.ColumnElement) -> sa.ColumnElement:
    """`artifact_node` as an SQL expression over an artifact id column."""
    return sa.literal(f"{NodeKind.ARTIFACT.value}:") + sa.cast(artifact_id, sa.String)


def parse_node(node: str) -> tuple[NodeKind, str]:
    """(kind, id) of a node id; a ValueError for text that is not one."""
    kind, sep, ident = node.partition(":")
    if not sep or not ident:
        raise ValueError(f"not a lineage node id: {node!r}")
    return NodeKind(kind), ident
