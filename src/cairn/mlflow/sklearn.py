"""MLflow's `mlflow.sklearn`: log a scikit-learn model to a run with cairn's sklearn flavor,
load it back as the estimator, autolog fits (`cairn.mlflow.autologging`)."""

from __future__ import annotations

from cairn.mlflow.autologging import sklearn_autolog as autolog
from cairn.mlflow.models import ModelInfo
from cairn.mlflow.models import load_model as load_any_model
from cairn.mlflow.models import log_model as log_any_model
from cairn.models.flavors.sklearn import NAME as FLAVOR_NAME

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model"]


def log_model(
    sk_model: object,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    signature: object = None,
    input_example: object = None,
    tags: dict | None = None,
    **options: object,
) -> ModelInfo:
    """Log `sk_model` as an artifact of the active run (`runs:/RUN_ID/PATH`), optionally
    registering it; see `cairn.mlflow.models.log_model`."""
    return log_any_model(
        sk_model,
        artifact_path,
        name=name,
        flavor=FLAVOR_NAME,
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        tags=tags,
        **options,
    )


def load_model(model_uri: str, dst_path: str | None = None) -> object:
    """The estimator `model_uri` names (`runs:/...`, `models:/...`)."""
    return load_any_model(model_uri).native
