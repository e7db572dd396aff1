"""Lineage node ids: how a run, an artifact or a served prediction is named in
`lineage_edges` (`run:ULID`, `artifact:ID`, `prediction:ULID`). Built and parsed only here,
so the packages that write edges and the ones that walk them cannot disagree."""

from __future__ import annotations

import sqlalchemy as sa

from cairn.errors import InvalidValueError
from cairn.states import TextEnum


class NodeKind(TextEnum):
    RUN = "run"
    ARTIFACT = "artifact"
    PREDICTION = "prediction"


class Relation(TextEnum):
    """An edge's W3C PROV relation: `src` came from, or read, `dst`."""

    WAS_GENERATED_BY = "wasGeneratedBy"  # artifact -> the run that made it
    USED = "used"  # run -> an artifact it read; prediction -> the model version's artifact


def run_node(run_id: str) -> str:
    return f"{NodeKind.RUN.value}:{run_id}"


def artifact_node(artifact_id: int) -> str:
    return f"{NodeKind.ARTIFACT.value}:{artifact_id}"


def prediction_node(prediction_id: str) -> str:
    return f"{NodeKind.PREDICTION.value}:{prediction_id}"


def artifact_node_sql(artifact_id: sa.ColumnElement) -> sa.ColumnElement:
    """`artifact_node` as an SQL expression over an artifact id column."""
    return sa.literal(f"{NodeKind.ARTIFACT.value}:") + sa.cast(artifact_id, sa.String)


def parse_node(node: str) -> tuple[NodeKind, str]:
    """(kind, id) of a node id; an InvalidValueError for text that is not one."""
    kind, sep, ident = node.partition(":")
    try:
        if sep and ident:
            return NodeKind(kind), ident
    except ValueError:
        pass
    raise InvalidValueError(
        f"not a lineage node id (run:ID, artifact:ID or prediction:ID): {node!r}"
    )
