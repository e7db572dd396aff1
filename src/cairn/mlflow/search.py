"""`search_runs` with MLflow's arguments and answers: a pandas DataFrame with MLflow's columns
(`run_id`, `experiment_id`, `status`, `artifact_uri`, `start_time`, `end_time` as UTC
datetimes, then `metrics.X`, `params.X` as text, `tags.X`), or a list of `Run`s.

The filter and order_by are cairn's language (`cairn.tracking.filter`), which takes
MLflow's. cairn deletes no runs: `run_view_type` DELETED_ONLY finds none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import IntEnum

from cairn.errors import InvalidValueError
from cairn.mlflow.entities import Run
from cairn.mlflow.experiments import active_experiment_name, get_experiment, get_experiment_by_name
from cairn.mlflow.views import mlflow_runs
from cairn.states import TextEnum
from cairn.store import get_store
from cairn.tracking import query
from cairn.tracking.writer import flush_all

log = logging.getLogger(__name__)

MAX_RESULTS = 100_000  # MLflow's default for a DataFrame
INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


class ViewType(IntEnum):
    """MLflow's `ViewType`: which runs a search sees by lifecycle stage."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


class OutputFormat(TextEnum):
    PANDAS = "pandas"
    LIST = "list"


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = MAX_RESULTS,
    order_by: list[str] | None = None,
    output_format: str = OutputFormat.PANDAS,
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> object:
    """Runs of the experiments given (the active one by default), newest first unless
    `order_by` says otherwise."""
    try:
        output = OutputFormat(output_format)
    except ValueError:
        raise InvalidValueError(
            f"output_format is 'pandas' or 'list', not {output_format!r}"
        ) from None
    names = _experiments(experiment_ids, experiment_names, search_all_experiments)
    store = get_store()
    flush_all()  # what this process logged so far is part of the answer
    if names == [] or ViewType(run_view_type) is ViewType.DELETED_ONLY:
        records = []
    elif names is None or len(names) == 1:
        experiment = None if names is None else names[0]
        records = query.search_runs(
            experiment, filter_string or None, order_by, limit=max_results, store=store
        )
    else:  # cairn searches one experiment or all: the others' runs are dropped here
        wanted = set(names)
        found = query.search_runs(None, filter_string or None, order_by, store=store)
        records = [r for r in found if r.experiment in wanted][:max_results]
    runs = mlflow_runs(records, store)
    return runs if output is OutputFormat.LIST else runs_frame(runs)


def runs_frame(runs: list[Run]) -> object:
    """MLflow's DataFrame of runs: one row each; a run without a key has NaN (metrics) or
    None (params, tags) there."""
    import pandas as pd

    columns: dict[str, list] = {name: [] for name in INFO_COLUMNS}
    for run in runs:
        info = run.info
        columns["run_id"].append(info.run_id)
        columns["experiment_id"].append(info.experiment_id)
        columns["status"].append(info.status)
        columns["artifact_uri"].append(info.artifact_uri)
        columns["start_time"].append(pd.to_datetime(info.start_time, unit="ms", utc=True))
        columns["end_time"].append(pd.to_datetime(info.end_time, unit="ms", utc=True))
    sections = (
        ("metrics", [r.data.metrics for r in runs], float("nan")),
        ("params", [r.data.params for r in runs], None),
        ("tags", [r.data.tags for r in runs], None),
    )
    for section, values, missing in sections:
        for key in _keys(values):
            columns[f"{section}.{key}"] = [v.get(key, missing) for v in values]
    return pd.DataFrame(columns)


def _keys(dicts: Iterable[dict]) -> list[str]:
    """Every key, in the order first seen."""
    return list(dict.fromkeys(key for d in dicts for key in d))


def _experiments(ids: list[str] | None, names: list[str] | None, every: bool) -> list[str] | None:
    """The experiment names to search, or None for all of them."""
    if ids and names:
        raise InvalidValueError("give experiment_ids or experiment_names, not both")
    if ids:
        return [get_experiment(i).name for i in ids]
    if names:
        found = [n for n in names if get_experiment_by_name(n) is not None]
        for missing in sorted(set(names) - set(found)):
            log.warning("no experiment named %r", missing)
        return found
    return None if every else [active_experiment_name()]
