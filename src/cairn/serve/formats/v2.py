"""The Open Inference Protocol (KServe's V2, Triton's HTTP API): `POST
/v2/models/NAME/infer` and the model metadata of `GET /v2/models/NAME`.

A request's inputs become what the model takes:

- one input: its array, whatever its name (a frame model whose column it names gets a
  one-column frame instead);
- several inputs: a pandas DataFrame with one column an input, each input of shape [n] or
  [n, 1] and the same n; for a frame model they are its columns, named as in its signature.

In metadata a tensor model's input is called `input-0`, a frame model's inputs are its
columns; a model's output is `predict` (or its output columns). The response's
`parameters` carry the prediction id (`prediction_id`) and `default: true` when the
policy's default answered instead of the model.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from cairn.errors import RequestError
from cairn.models.signature import FrameSchema, Schema, Signature
from cairn.serve.formats.common import MAX_ROWS, check_rows, dumps, parse_json, require_json, what
from cairn.serve.formats.tensors import datatype_of, decode_tensor, encode_tensor

EXAMPLE = (
    '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", '
    '"data": [5.1, 3.5, 1.4, 0.2]}]}'
)
INPUT_NAME = "input-0"  # a tensor model's one input, as KServe names it
OUTPUT_NAME = "predict"  # a model's output when it has no named columns
PLATFORM = "cairn"
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})


@dataclass(frozen=True)
class V2Request:
    """An inference request: the model's inputs, and what the response must echo or
    honour (`id`, the outputs asked for)."""

    inputs: object
    id: str | None = None
    parameters: Mapping[str, object] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()  # the output names asked for; empty: all of them


def read_v2(
    body: bytes, content_type: str | None, signature: Signature | None, *, max_rows: int = MAX_ROWS
) -> object:
    """The inputs of an inference request: an ndarray, or a DataFrame of named inputs."""
    return read_v2_request(body, content_type, signature, max_rows=max_rows).inputs


def read_v2_request(
    body: bytes, content_type: str | None, signature: Signature | None, *, max_rows: int = MAX_ROWS
) -> V2Request:
    """The whole inference request; `read_v2` is its inputs."""
    require_json(content_type, EXAMPLE)
    request = parse_json(body, EXAMPLE)
    if not isinstance(request, dict):
        raise RequestError(f"an inference request is a JSON object, got {what(request)}")
    unknown = sorted(set(request) - _REQUEST_KEYS)
    if unknown:
        raise RequestError(
            f"unknown field {unknown[0]!r}: an inference request holds inputs and optionally "
            f"id, parameters and outputs, e.g. {EXAMPLE}"
        )
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(f"'id' must be a string, got {what(request_id)}")
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RequestError(f"'parameters' must be an object, got {what(parameters)}")
    tensors = request.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestError(
            f"'inputs' must be a non-empty list of tensors, got {what(tensors)}; e.g. {EXAMPLE}"
        )
    arrays: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(tensors):
        name, values = decode_tensor(tensor, f"inputs[{i}]")
        if name in arrays:
            raise RequestError(f"input {name!r} is given twice")
        arrays[name] = values
    inputs = _model_inputs(arrays, None if signature is None else signature.inputs)
    check_rows(len(inputs), max_rows)
    return V2Request(inputs, request_id, parameters, _requested(request.get("outputs")))


def write_v2(
    name: str,
    version: int | str,
    outputs: object,
    request_id: str | None,
    *,
    prediction_id: str | None = None,
    fallback: bool = False,
    requested: Collection[str] = (),
) -> bytes:
    """An inference response. `outputs` is what the model returned: an array or a list
    (one output, `predict`), a pandas Series (named by its name), a DataFrame (an output a
    column) or a dict of name -> array. `request_id` is the request's id; without one the
    response's id is the prediction id. `requested` keeps only those outputs."""
    tensors = [encode_tensor(n, values) for n, values in _named_outputs(outputs)]
    if requested:
        produced = {t["name"] for t in tensors}
        missing = sorted(set(requested) - produced)
        if missing:
            raise RequestError(
                f"output {missing[0]!r} was asked for; the model gives {', '.join(produced)}"
            )
        tensors = [t for t in tensors if t["name"] in requested]
    document: dict[str, object] = {
        "model_name": name,
        "model_version": str(version),
        "id": request_id if request_id is not None else prediction_id,
        "outputs": tensors,
    }
    parameters: dict[str, object] = {}
    if prediction_id is not None:
        parameters["prediction_id"] = prediction_id
    if fallback:
        parameters["default"] = True
    if parameters:
        document["parameters"] = parameters
    return dumps(document)


def v2_metadata(name: str, versions: Iterable[int], signature: Signature | None) -> dict:
    """`GET /v2/models/NAME`: the model's versions and its input and output tensors."""
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORM,
        "inputs": [] if signature is None else _metadata_tensors(signature.inputs, INPUT_NAME),
        "outputs": (
            []
            if signature is None or signature.outputs is None
            else _metadata_tensors(signature.outputs, OUTPUT_NAME)
        ),
    }


def _model_inputs(arrays: dict[str, np.ndarray], schema: Schema | None) -> object:
    columns = schema.names if isinstance(schema, FrameSchema) else None
    if len(arrays) == 1:
        ((name, values),) = arrays.items()
        if columns is None or name not in columns:
            return values
    elif schema is not None and columns is None:
        raise RequestError(
            f"the model takes one tensor ({schema}), got {len(arrays)} inputs: "
            f"{', '.join(arrays)}; send one input"
        )
    return _frame(arrays)


def _frame(arrays: dict[str, np.ndarray]) -> object:
    import pandas as pd

    rows = None
    data = {}
    for name, values in arrays.items():
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise RequestError(
                f"input {name!r} has shape {list(values.shape)}: named inputs are columns, "
                "of shape [n] or [n, 1]"
            )
        if rows is None:
            rows = len(values)
        elif len(values) != rows:
            raise RequestError(
                f"input {name!r} has {len(values)} rows and the inputs before it {rows}: "
                "give every input the same number of rows"
            )
        data[name] = values
    return pd.DataFrame(data)


def _requested(outputs: object) -> tuple[str, ...]:
    if outputs is None:
        return ()
    if not isinstance(outputs, list):
        raise RequestError(f"'outputs' must be a list of {{\"name\": ...}}, got {what(outputs)}")
    names = []
    for i, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str) or set(output) - {"name", "parameters"}:
            raise RequestError(
                f"outputs[{i}] must be an object with a string 'name' (and optionally "
                f"'parameters'), got {output!r:.80}"
            )
        names.append(name)
    return tuple(names)


def _named_outputs(outputs: object) -> list[tuple[str, object]]:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(outputs, pd.DataFrame):
        return [(str(c), outputs[c].to_numpy()) for c in outputs.columns]
    if pd is not None and isinstance(outputs, pd.Series):
        return [(OUTPUT_NAME if outputs.name is None else str(outputs.name), outputs.to_numpy())]
    if isinstance(outputs, Mapping):
        return [(str(k), v) for k, v in outputs.items()]
    return [(OUTPUT_NAME, outputs)]


def _metadata_tensors(schema: Schema, name: str) -> list[dict]:
    if isinstance(schema, FrameSchema):
        return [
            {"name": c.name, "datatype": datatype_of(c.dtype), "shape": [-1]}
            for c in schema.columns
        ]
    return [{"name": name, "datatype": datatype_of(schema.dtype), "shape": list(schema.shape)}]
