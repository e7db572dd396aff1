"""The wire formats a request can arrive in."""

from __future__ import annotations

from cairn.states import TextEnum


class Wire(TextEnum):
    """Which protocol a request speaks: cairn's own (`/v1/models/NAME/predict`), the Open
    Inference Protocol (`/v2/models/NAME/infer`) or MLflow's scoring server (`/invocations`)."""

    V1 = "v1"
    V2 = "v2"
    MLFLOW = "mlflow"
