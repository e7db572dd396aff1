"""Scoring a model version on a registered dataset version with a scikit-learn metric.

A metric is named as scikit-learn names it, with or without `_score`: "accuracy" is
`sklearn.metrics.accuracy_score`, "mean_squared_error" is itself. Only functions named
`*_score`, `*_error`, `*_loss`, `*_deviance` (and `matthews_corrcoef`) count as metrics: they
take `(y_true, y_pred)` and return one number. Those ending `_error`, `_loss` or `_deviance`
are better when lower, the rest when higher.

Where the features and labels are in the dataset's value:

- a data frame (pandas or polars): the labels are the column `labels` ("label" if not
  given); the features are the columns `features` (a name or a list of names), or every
  other column.
- a dict: the labels are the entry `labels` ("y" if not given); the features are the entry
  `features` ("X" if not given), or, when `features` is a list of keys, a data frame of
  those entries (a dict of columns).

Anything else, or a missing column or key, is an InvalidValueError naming what the dataset
holds. scikit-learn is imported when a metric is looked up, not with this module.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cairn.datasets.versions import get as get_dataset
from cairn.datasets.versions import value_of
from cairn.errors import InvalidValueError
from cairn.models.loading import load_version
from cairn.models.versions import ModelVersion
from cairn.store import Store

LOWER_IS_BETTER = ("_error", "_loss", "_deviance")
METRIC_SUFFIXES = ("_score", *LOWER_IS_BETTER)
OTHER_METRICS = ("matthews_corrcoef",)  # scikit-learn metrics without a metric suffix
FRAME_LABELS = "label"
DICT_LABELS = "y"
DICT_FEATURES = "X"

Features = str | Sequence[str] | None


@dataclass(frozen=True)
class Metric:
    name: str  # as the gate names it
    function: Callable[..., object]

    @property
    def greater_is_better(self) -> bool:
        return not self.function.__name__.endswith(LOWER_IS_BETTER)


@dataclass(frozen=True)
class Holdout:
    """The features and labels of one dataset version."""

    dataset: str
    version: int
    features: object
    labels: object

    def __str__(self) -> str:
        return f"{self.dataset}:{self.version}"


def metric_named(name: str) -> Metric:
    """The scikit-learn metric `name` names, or an InvalidValueError with the close names."""
    import sklearn.metrics

    for candidate in (f"{name}_score", name):
        function = getattr(sklearn.metrics, candidate, None)
        if callable(function) and _is_metric(candidate):
            return Metric(name, function)
    known = sorted(n.removesuffix("_score") for n in dir(sklearn.metrics) if _is_metric(n))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise InvalidValueError(
        f"{name!r} is not a scikit-learn metric{hint}: name a function of sklearn.metrics "
        "with or without _score, such as accuracy, f1, r2 or mean_squared_error"
    )


def _is_metric(name: str) -> bool:
    return not name.startswith("_") and (name.endswith(METRIC_SUFFIXES) or name in OTHER_METRICS)


def load_holdout(
    store: Store,
    dataset: str,
    version: int | None,
    *,
    labels: str | None,
    features: Features,
) -> Holdout:
    """The features and labels of `dataset` (its latest version if `version` is None)."""
    ref = get_dataset(dataset, version, store=store)
    where = f"dataset {dataset}:{ref.version}"
    value = value_of(store, ref)
    if _is_frame(value):
        x, y = _split_frame(value, labels or FRAME_LABELS, features, where)
    elif isinstance(value, Mapping):
        x, y = _split_dict(value, labels or DICT_LABELS, features, where)
    else:
        raise InvalidValueError(
            f"{where} holds a {type(value).__qualname__}; a metric needs a data frame with a "
            f"label column, or a dict with {DICT_FEATURES!r} and {DICT_LABELS!r}"
        )
    return Holdout(dataset, ref.version, x, y)


def score(
    store: Store, version: ModelVersion, holdout: Holdout, metric: Metric, **options
) -> float:
    """`metric` of `version`'s predictions on `holdout`: one finite number, or an
    InvalidValueError saying what the metric returned."""
    import numpy as np

    predictions = np.asarray(load_version(store, version).predict(holdout.features))
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions.ravel()  # one output column: the labels' shape
    value = metric.function(np.asarray(holdout.labels), predictions, **options)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"metric {metric.name} returned a {type(value).__qualname__}, not one number; "
            "choose a metric (or options such as average='macro') that gives one"
        ) from None
    if not math.isfinite(number):
        raise InvalidValueError(f"metric {metric.name} of {version} on {holdout} is {number}")
    return number


def _is_frame(value: object) -> bool:
    return any(
        module is not None and isinstance(value, module.DataFrame)
        for module in (sys.modules.get("pandas"), sys.modules.get("polars"))
    )


def _split_frame(frame, labels: str, features: Features, where: str) -> tuple[object, object]:
    columns = [str(c) for c in frame.columns]
    chosen = [features] if isinstance(features, str) else list(features or [])
    missing = [c for c in (labels, *chosen) if c not in columns]
    if missing:
        raise InvalidValueError(
            f"{where} has no column {', '.join(map(repr, missing))}; its columns: "
            f"{', '.join(columns)} (give labels= and features= to name them)"
        )
    chosen = chosen or [c for c in columns if c != labels]
    if not chosen:
        raise InvalidValueError(f"{where} has only the label column {labels!r}, no features")
    return frame[chosen], frame[labels]


def _split_dict(
    value: Mapping, labels: str, features: Features, where: str
) -> tuple[object, object]:
    keys = [str(k) for k in value]
    wanted = [labels, *([features] if isinstance(features, str) else features or [DICT_FEATURES])]
    missing = [k for k in wanted if k not in value]
    if missing:
        raise InvalidValueError(
            f"{where} has no key {', '.join(map(repr, missing))}; its keys: {', '.join(keys)} "
            "(give labels= and features= to name them)"
        )
    if features is None or isinstance(features, str):
        return value[features or DICT_FEATURES], value[labels]
    import pandas as pd

    return pd.DataFrame({k: value[k] for k in features}), value[labels]
