"""MLflow's `mlflow.data` constructors: data with a name, for `log_input`, which stores it as
a version of the cairn dataset of that name. MLflow's own dataset objects work as well:
`log_input` reads the same attributes (`name`, `df`, or `features` and `targets`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAME = "dataset"  # MLflow's name for a dataset given none


@dataclass(frozen=True, eq=False)
class PandasDataset:
    df: object
    name: str = DEFAULT_NAME
    source: object = None
    targets: str | None = None  # the column that holds the targets, if any


@dataclass(frozen=True, eq=False)
class NumpyDataset:
    features: object
    targets: object = None
    name: str = DEFAULT_NAME
    source: object = None


def from_pandas(
    df: object,
    source: object = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """`digest` and `predictions` are accepted for MLflow's sake: cairn's digest is the
    content's, computed when the version is stored."""
    return PandasDataset(df, name or DEFAULT_NAME, source, targets)


def from_numpy(
    features: object,
    source: object = None,
    targets: object = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    return NumpyDataset(features, targets, name or DEFAULT_NAME, source)
