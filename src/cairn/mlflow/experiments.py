"""Experiments as MLflow's API sees them: ids as text, the active experiment of the process.

A cairn experiment is a name and a number; MLflow's `experiment_id` is that number as text.
The active experiment is the one `set_experiment` chose, else MLFLOW_EXPERIMENT_NAME or
MLFLOW_EXPERIMENT_ID (as MLflow reads them), else cairn's default experiment.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

from cairn.config import find_workspace
from cairn.errors import InvalidValueError, NotFoundError
from cairn.mlflow.entities import Experiment, millis
from cairn.store import Store, get_store, schema
from cairn.store.database import dialect_insert
from cairn.tracking.start import DEFAULT_EXPERIMENT
from cairn.tracking.validation import check_name

NAME_ENV = "MLFLOW_EXPERIMENT_NAME"
ID_ENV = "MLFLOW_EXPERIMENT_ID"

_active: str | None = None  # the name set_experiment chose, for this process


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the active one (created if a name is new); returns it."""
    global _active
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidValueError(
            "set_experiment takes experiment_name or experiment_id, one of them"
        )
    if experiment_id is not None:
        experiment = get_experiment(experiment_id)
    else:
        store = get_store()
        experiment = _experiment(_created(store, check_name(experiment_name, "experiment name")))
    _active = experiment.name
    return experiment


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict | None = None
) -> str:
    """A new experiment's id; an error if the name is taken. cairn keeps no experiment
    tags and one artifact location per workspace, so those must not be given."""
    if artifact_location is not None or tags:
        raise InvalidValueError(
            "cairn keeps an experiment's artifacts in the workspace's blob store and has no "
            "experiment tags: call create_experiment(name) without them"
        )
    store = get_store()
    check_name(name, "experiment name")
    if _row(store, schema.experiments.c.name == name) is not None:
        raise InvalidValueError(f"experiment {name!r} already exists")
    return str(_created(store, name).id)


def get_experiment(experiment_id: str | int) -> Experiment:
    store = get_store()
    number = _number(experiment_id)
    row = None if number is None else _row(store, schema.experiments.c.id == number)
    if row is None:
        raise NotFoundError(f"no experiment with id {experiment_id!r} in {store.description}")
    return _experiment(row)


def get_experiment_by_name(name: str) -> Experiment | None:
    store = get_store()
    row = _row(store, schema.experiments.c.name == name)
    return None if row is None else _experiment(row)


def active_experiment_name() -> str:
    if _active is not None:
        return _active
    if os.environ.get(NAME_ENV):
        return os.environ[NAME_ENV]
    if os.environ.get(ID_ENV):
        return get_experiment(os.environ[ID_ENV]).name
    return DEFAULT_EXPERIMENT


def ids_by_name(store: Store) -> dict[str, str]:
    """Every experiment's id (as text) by name."""
    table = schema.experiments
    with store.reader() as conn:
        return {
            name: str(number) for number, name in conn.execute(sa.select(table.c.id, table.c.name))
        }


def _number(experiment_id: str | int) -> int | None:
    text = str(experiment_id).strip()
    return int(text) if text.isdigit() else None


def _row(store: Store, where: sa.ColumnElement[bool]) -> sa.Row | None:
    with store.reader() as conn:
        return conn.execute(sa.select(schema.experiments).where(where)).first()


def _created(store: Store, name: str) -> sa.Row:
    table = schema.experiments
    with store.writer() as conn:
        conn.execute(
            dialect_insert(conn, table)
            .values(name=name, created=time.time())
            .on_conflict_do_nothing()
        )
        return conn.execute(sa.select(table).where(table.c.name == name)).one()


def _experiment(row: sa.Row) -> Experiment:
    created = millis(row.created)
    return Experiment(
        experiment_id=str(row.id),
        name=row.name,
        artifact_location=find_workspace(create=True).blobs_url,
        creation_time=created,
        last_update_time=created,
    )
