"""MLflow's logging functions for params, metrics and tags, on cairn's run.

A metric goes through `run.log`, so it costs what cairn's own logging costs; without
`step=` it takes the metric's next step (MLflow's default is step 0 for every value). Params
keep their type when they are numbers, text, booleans or None (so filters compare numbers
as numbers); anything else is stored as its `str()`, which is what MLflow stores for every
param. Logging a different value for a param the run has is cairn's error, as it is
MLflow's. `synchronous=` is accepted: cairn always writes metrics in the background and
makes them durable when the run ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from cairn.mlflow.runs import run_to_log, settle
from cairn.tracking import active
from cairn.tracking.writer import flush_all

_PLAIN = (bool, int, float, str)


def log_param(key: str, value: object, synchronous: bool | None = None) -> object:
    """Record one param of the active run; returns `value`, as MLflow's does."""
    log_params({key: value})
    return value


def log_params(
    params: Mapping[str, object], synchronous: bool | None = None, run_id: str | None = None
) -> None:
    run_to_log(run_id).log_params({key: param_value(value) for key, value in params.items()})


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: object = None,
) -> None:
    """Record a metric value of the active run; `timestamp` is epoch milliseconds."""
    if run_id is None and timestamp is None:
        run = active.current()
        if run is not None:  # the hot path: straight to run.log
            run.log({key: value}, step)
            return
    log_metrics({key: value}, step, run_id=run_id, timestamp=timestamp)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: object = None,
) -> None:
    run = run_to_log(run_id)
    run.log(metrics, step, timestamp=None if timestamp is None else timestamp / 1000)
    settle(run)


def flush_async_logging() -> None:
    """Make every metric logged so far durable (MLflow's name for it)."""
    flush_all()


def set_tag(key: str, value: object, synchronous: bool | None = None) -> None:
    set_tags({key: value})


def set_tags(tags: Mapping[str, object], synchronous: bool | None = None) -> None:
    run_to_log(None).set_tags(tags)


def param_value(value: object) -> object:
    """What cairn stores for an MLflow param (see the module's docstring)."""
    plain = (
        value.item() if getattr(value, "shape", None) == () and hasattr(value, "item") else value
    )
    if plain is None or isinstance(plain, _PLAIN):
        return plain
    return str(value)
