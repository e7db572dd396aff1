"""cairn serve: registry aliases behind an adaptive-batching, cached, routed HTTP endpoint."""

from cairn.serve.client import Client, Prediction
from cairn.serve.settings import ServeSettings

__all__ = ["Client", "Prediction", "ServeSettings"]
