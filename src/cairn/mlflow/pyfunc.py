"""MLflow's `mlflow.pyfunc.load_model`: any logged or registered model, with one `predict`
that checks its inputs against the signature (cairn's `LoadedModel`)."""

from __future__ import annotations

from cairn.mlflow.models import load_model as load_any_model
from cairn.models.loaded import LoadedModel

__all__ = ["load_model"]


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict | None = None,
) -> LoadedModel:
    return load_any_model(model_uri)
