"""cairn's run records seen as MLflow's `Run` entities.

Params read as MLflow stores them, as text (`str()` of the value: 0.5 -> "0.5", True ->
"True"); cairn keeps them typed. MLflow's system tags (`mlflow.runName`, `mlflow.user`,
`mlflow.source.name`, `mlflow.source.type`, `mlflow.parentRunId`, `mlflow.source.git.commit`,
`mlflow.source.git.branch`) are derived from what cairn records on the run itself, so a run
started with `cairn.start_run` reads the same way; a tag the run really has wins. A run's
artifact URI is `runs:/RUN_ID`, which cairn.mlflow's artifact and model functions take.
"""

from __future__ import annotations

import sqlalchemy as sa

from cairn.datasets.versions import KINDS as DATASET_KINDS
from cairn.mlflow.entities import (
    DatasetInput,
    DatasetRecord,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    millis,
    mlflow_status,
)
from cairn.mlflow.experiments import ids_by_name
from cairn.store import Store, schema
from cairn.store.nodes import Relation, artifact_node_sql, run_node
from cairn.tracking.query import RunRecord

RUNS_SCHEME = "runs:/"
SOURCE_TYPE = "LOCAL"
RUN_NAME_TAG = "mlflow.runName"
_CHUNK = 500  # ids per IN list, within SQLite's variable limit


def artifact_uri(run_id: str) -> str:
    return f"{RUNS_SCHEME}{run_id}"


def param_text(value: object) -> str:
    """A param as MLflow stores it."""
    return value if isinstance(value, str) else str(value)


def mlflow_runs(records: list[RunRecord], store: Store) -> list[Run]:
    experiment_ids = ids_by_name(store)
    inputs = dataset_inputs(store, [r.id for r in records])
    code: dict[str, dict] = {}  # code record digest -> the record (runs of a commit share it)
    runs = []
    for record in records:
        if record.code_ref is not None and record.code_ref not in code:
            code[record.code_ref] = record.code() or {}
        tags = {**system_tags(record, code.get(record.code_ref, {})), **record.tags}
        info = RunInfo(
            run_id=record.id,
            experiment_id=experiment_ids.get(record.experiment, ""),
            run_name=tags[RUN_NAME_TAG],
            user_id=record.user or "",
            status=mlflow_status(record.status).value,
            start_time=millis(record.started),
            end_time=millis(record.ended),
            artifact_uri=artifact_uri(record.id),
        )
        params = {key: param_text(value) for key, value in record.params.items()}
        data = RunData(metrics=dict(record.metrics), params=params, tags=tags)
        runs.append(Run(info, data, RunInputs(inputs.get(record.id, []))))
    return runs


def system_tags(record: RunRecord, code: dict) -> dict[str, str]:
    """MLflow's system tags of a run, from its row and its code record."""
    tags = {RUN_NAME_TAG: record.name, "mlflow.source.type": SOURCE_TYPE}
    if record.user:
        tags["mlflow.user"] = record.user
    # The command is the interpreter's name and then sys.argv; MLflow names sys.argv[0].
    words = (record.command or "").split(" ")
    if len(words) > 1 and words[1]:
        tags["mlflow.source.name"] = words[1]
    if record.parent_id:
        tags["mlflow.parentRunId"] = record.parent_id
    for key in ("commit", "branch"):
        if code.get(key):
            tags[f"mlflow.source.git.{key}"] = code[key]
    return tags


def dataset_inputs(store: Store, run_ids: list[str]) -> dict[str, list[DatasetInput]]:
    """The dataset versions each run used, by run id, in the order it used them."""
    edges, artifacts = schema.lineage_edges, schema.artifacts
    found: dict[str, list[DatasetInput]] = {}
    with store.reader() as conn:
        for start in range(0, len(run_ids), _CHUNK):
            nodes = {run_node(r): r for r in run_ids[start : start + _CHUNK]}
            query = (
                sa.select(edges.c.src, artifacts.c.name, artifacts.c.version, artifacts.c.digest)
                .join(artifacts, edges.c.dst == artifact_node_sql(artifacts.c.id))
                .where(
                    edges.c.src.in_(list(nodes)),
                    edges.c.relation == Relation.USED.value,
                    artifacts.c.kind.in_(DATASET_KINDS),
                )
                .order_by(edges.c.created, artifacts.c.id)
            )
            for row in conn.execute(query):
                record = DatasetRecord(row.name, row.digest, "cairn", f"{row.name}:{row.version}")
                found.setdefault(nodes[row.src], []).append(DatasetInput(record))
    return found
