"""Request and response formats of `cairn serve`: cairn's v1, the Open Inference Protocol
(v2) and MLflow's scoring protocol. Pure functions from bytes to model inputs and from
model outputs to bytes; every unreadable body is a RequestError saying what to send."""

from cairn.serve.formats.common import MAX_ROWS, check_rows, rows_of
from cairn.serve.formats.mlflow import read_mlflow, write_mlflow
from cairn.serve.formats.v1 import read_v1, write_v1
from cairn.serve.formats.v2 import V2Request, read_v2, read_v2_request, v2_metadata, write_v2
from cairn.serve.formats.wire import Wire

__all__ = [
    "MAX_ROWS",
    "V2Request",
    "Wire",
    "check_rows",
    "read_mlflow",
    "read_v1",
    "read_v2",
    "read_v2_request",
    "rows_of",
    "v2_metadata",
    "write_mlflow",
    "write_v1",
    "write_v2",
]
