"""cairn's own request format: `POST /v1/models/NAME/predict` with `{"inputs": ...}`.

`inputs` is a list of rows (each a list of values, a dict of column -> value, or one value
for a model of one-dimensional input) or a single dict, which is one row: what
`cairn.models.signature.conform` takes. The answer is `{"predictions": [...], "model": NAME,
"version": V, "id": PREDICTION_ID}`, with `"default": true` when the policy's default
answered instead of the model.

This is the hot path: reading a one-row request and writing its answer cost a few
microseconds (see tests/serve/test_formats.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from cairn.errors import RequestError
from cairn.serve.formats.common import (
    MAX_ROWS,
    check_alike,
    check_rows,
    dumps,
    parse_json,
    require_json,
    what,
)

EXAMPLE = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]} or {"inputs": [{"sepal_length": 5.1, ...}]}'


def read_v1(body: bytes, content_type: str | None, *, max_rows: int = MAX_ROWS) -> object:
    """The raw inputs of a v1 request: a list of rows or one row as a dict."""
    require_json(content_type, EXAMPLE)
    request = parse_json(body, EXAMPLE)
    if type(request) is not dict:
        raise RequestError(f"a v1 request is a JSON object, got {what(request)}; send {EXAMPLE}")
    if len(request) != 1 or "inputs" not in request:
        extra = sorted(set(request) - {"inputs"})
        problem = f"unknown field {extra[0]!r}" if extra else "no field 'inputs'"
        raise RequestError(f"{problem}: a v1 request holds only 'inputs', e.g. {EXAMPLE}")
    inputs = request["inputs"]
    if isinstance(inputs, list):
        check_rows(len(inputs), max_rows)
        check_alike(inputs, "'inputs'")
    elif isinstance(inputs, Mapping):
        if not inputs:
            raise RequestError(f"'inputs' is an empty object: give column -> value; e.g. {EXAMPLE}")
    else:
        raise RequestError(
            f"'inputs' is {what(inputs)}: give a list of rows, or one row as an object "
            f"(column -> value); e.g. {EXAMPLE}"
        )
    return inputs


def write_v1(
    name: str,
    version: int,
    predictions: object,
    prediction_id: str,
    *,
    fallback: bool = False,
) -> bytes:
    """The answer to a v1 request: `predictions` (an ndarray, a list, a pandas Series or a
    DataFrame, written as one object a row) with the model version and the prediction id."""
    document: dict[str, object] = {
        "predictions": predictions,
        "model": name,
        "version": version,
        "id": prediction_id,
    }
    if fallback:
        document["default"] = True
    return dumps(document)
