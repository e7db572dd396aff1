"""`log_input`: a run read a dataset, recorded as a `used` edge of the lineage graph.

The dataset may be a cairn dataset version (an `ArtifactRef`, or `NAME` / `NAME:VERSION`),
an MLflow-style dataset (`cairn.mlflow.data` or `mlflow.data`: its `name` and its `df`, or
`features` and `targets`), or data itself with `name=` (a frame, an array). Data is stored
as the next version of the cairn dataset of that name unless its latest version holds the
same content, so logging the same data twice adds nothing.
"""

from __future__ import annotations

import contextvars
import sys

from cairn import datasets
from cairn.errors import InvalidValueError
from cairn.mlflow.runs import current_or_started
from cairn.store import Store
from cairn.tracking.artifacts import ArtifactRef, record_input


def log_input(
    dataset: object,
    context: str | None = None,
    tags: dict | None = None,
    model: object = None,
    *,
    name: str | None = None,
) -> ArtifactRef:
    """Record that the active run used `dataset`; returns the dataset version. MLflow's
    `context` and `tags` are accepted; cairn's lineage edge has no place for them."""
    run = current_or_started()
    version = dataset_version(run.store, dataset, name)
    record_input(run.store, run.id, version)
    return version


def dataset_version(store: Store, dataset: object, name: str | None = None) -> ArtifactRef:
    """The cairn dataset version `dataset` is or becomes."""
    if isinstance(dataset, ArtifactRef):
        return dataset
    if isinstance(dataset, str):
        dataset_name, _, version = dataset.partition(":")
        return datasets.get(dataset_name, version or None, store=store)
    value = _data_of(dataset)
    if value is not dataset:
        name = name or getattr(dataset, "name", None)
    if not name:
        raise InvalidValueError(
            f"log_input of a {type(dataset).__qualname__}: give the dataset a name (name=...)"
        )
    source = getattr(dataset, "source", None)
    description = None if source is None else f"source: {source}"
    # The run read this data, it did not make it: saved outside the run (an empty context
    # has no active run), the version gets no producer.
    return contextvars.Context().run(
        datasets.save, name, value, description=description, store=store
    )


def _data_of(dataset: object) -> object:
    """The data an MLflow-style dataset holds, or `dataset` itself if it is data."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(dataset, pandas.DataFrame | pandas.Series):
        return dataset  # a frame's attributes are its columns: a column "df" is no dataset
    frame = getattr(dataset, "df", None)
    if frame is not None:
        return frame
    features = getattr(dataset, "features", None)
    if features is None:
        return dataset
    targets = getattr(dataset, "targets", None)
    return features if targets is None else {"features": features, "targets": targets}
