"""Tensors of the Open Inference Protocol: datatypes, and tensors to and from NumPy.

A tensor is `{"name", "shape", "datatype", "data"[, "parameters"]}`; `data` holds the
elements in row-major order, flat or nested as the shape is (both are allowed by the
protocol); BYTES elements are strings. Numbers are checked against the datatype: an integer
datatype takes integral numbers within its range, a float datatype any number that does not
overflow it, BOOL only booleans.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from cairn.errors import PredictError, RequestError
from cairn.serve.formats.common import what

BYTES = "BYTES"
DATATYPES: dict[str, Any] = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    BYTES: np.dtype(object),
}
_BY_DTYPE = {dtype.name: name for name, dtype in DATATYPES.items() if name != BYTES}
_TENSOR_KEYS = ("name", "shape", "datatype", "data")
_KINDS_FOR = {"b": "b", "u": "biuf", "i": "biuf", "f": "biuf"}  # target kind -> data kinds taken


def datatype_of(dtype_name: str) -> str:
    """The OIP datatype for a NumPy dtype name (or a signature's `str`, `category`,
    `object`, `datetime64[...]`: all BYTES)."""
    return _BY_DTYPE.get(dtype_name, BYTES)


def decode_tensor(tensor: object, where: str) -> tuple[str, np.ndarray]:
    """The name and the array of one request input; `where` names it in errors."""
    if not isinstance(tensor, Mapping):
        raise RequestError(
            f"{where} is {what(tensor)}: each input is an object with name, shape, datatype "
            "and data"
        )
    missing = [key for key in _TENSOR_KEYS if key not in tensor]
    unknown = sorted(set(tensor) - {*_TENSOR_KEYS, "parameters"})
    if missing or unknown:
        problem = f"has no {missing[0]!r}" if missing else f"has an unknown field {unknown[0]!r}"
        raise RequestError(f"{where} {problem}: an input holds name, shape, datatype, data")
    name, shape, datatype, data = (tensor[key] for key in _TENSOR_KEYS)
    if not isinstance(name, str) or not name:
        raise RequestError(f"{where}: 'name' must be a non-empty string, got {what(name)}")
    where = f"input {name!r}"
    _check_parameters(tensor.get("parameters"), where)
    shape = _shape(shape, where)
    if not isinstance(datatype, str):
        raise RequestError(f"{where}: 'datatype' must be a string, got {what(datatype)}")
    if datatype not in DATATYPES:
        raise RequestError(f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    if not isinstance(data, list):
        raise RequestError(f"{where}: 'data' must be a list of the elements, got {what(data)}")
    values = _strings(data, where) if datatype == BYTES else _numbers(data, datatype, where)
    size = math.prod(shape)
    if values.size != size:
        raise RequestError(
            f"{where}: shape {list(shape)} holds {size} elements, 'data' has {values.size}"
        )
    return name, values.reshape(shape)


def encode_tensor(name: str, values: object) -> dict[str, object]:
    """One response output: `values` (an array, or anything NumPy makes an array of) as a
    flat, row-major tensor."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise PredictError(f"output {name!r} is not a tensor: {exc}") from None
    kind = arr.dtype.kind
    if kind == "O":
        return _encode_objects(name, arr)
    if kind == "f" and arr.dtype.name not in _BY_DTYPE:
        arr = arr.astype(np.float64)  # long double: no OIP datatype is wider than FP64
    if kind in "biuf":
        return {
            "name": name,
            "shape": list(arr.shape),
            "datatype": _BY_DTYPE[arr.dtype.name],
            "data": np.ascontiguousarray(arr).reshape(-1),
        }
    if kind in "USM":
        flat = arr.reshape(-1)
        if kind == "M":
            data = np.datetime_as_string(flat).tolist()
        elif kind == "S":
            data = [v.decode("utf-8", errors="replace") for v in flat.tolist()]
        else:
            data = flat.tolist()
        return {"name": name, "shape": list(arr.shape), "datatype": BYTES, "data": data}
    raise PredictError(f"output {name!r} has dtype {arr.dtype}, which no OIP datatype holds")


def _encode_objects(name: str, arr: np.ndarray) -> dict[str, object]:
    """An object array: numbers if every element is one, else strings (BYTES)."""
    flat = arr.reshape(-1).tolist()
    if flat and not any(isinstance(v, str | bytes) or v is None for v in flat):
        try:
            numeric = np.array(flat)
        except (ValueError, TypeError):
            numeric = None
        if numeric is not None and numeric.dtype.kind in "biuf":
            return encode_tensor(name, numeric.reshape(arr.shape))
    data = [
        v if v is None or isinstance(v, str) else _text(v) for v in flat
    ]  # None stays null: a missing label, not the text "None"
    return {"name": name, "shape": list(arr.shape), "datatype": BYTES, "data": data}


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _check_parameters(parameters: object, where: str) -> None:
    if parameters is None:
        return
    if not isinstance(parameters, Mapping):
        raise RequestError(f"{where}: 'parameters' must be an object, got {what(parameters)}")
    if "binary_data_size" in parameters:
        raise RequestError(
            f"{where}: binary tensor data (Triton's binary extension) is not supported; send "
            "the elements in 'data' as JSON"
        )


def _shape(shape: object, where: str) -> tuple[int, ...]:
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise RequestError(
            f"{where}: 'shape' must be a list of one or more non-negative integers, rows "
            f"first (e.g. [1, 4]), got {shape!r:.80}"
        )
    return tuple(shape)


def _numbers(data: list, datatype: str, where: str) -> np.ndarray:
    want = DATATYPES[datatype]
    try:
        arr = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise RequestError(
            f"{where}: 'data' is ragged (or nested deeper than 64 levels): give the "
            "elements flat, or nested as the shape is"
        ) from None
    if arr.size == 0:
        return arr.astype(want)  # `[]` is float64 to NumPy, whatever the datatype
    if arr.dtype.kind not in _KINDS_FOR[want.kind]:
        raise RequestError(f"{where}: {datatype} data holds {_first_misfit(data, want.kind)}")
    if want.kind == "b":
        return arr
    if want.kind == "f":
        with np.errstate(over="ignore"):
            cast = arr.astype(want)
        wrong = np.isinf(cast) & np.isfinite(arr)
    else:
        with np.errstate(invalid="ignore"):
            try:  # NumPy reads ints beyond int64 mixed with others as floats: read them again
                cast = np.array(data, dtype=want) if arr.dtype.kind == "f" else arr.astype(want)
            except OverflowError:
                cast = None
        wrong = None if cast is None else cast != arr  # a fraction, or out of range
    if wrong is None or wrong.any():
        bad = _first_outside(data, want) if wrong is None else arr[wrong].flat[0].item()
        if want.kind == "f":
            why = f"too large for {datatype}"
        elif isinstance(bad, float) and not bad.is_integer():
            why = "not an integer"
        else:
            info = np.iinfo(want)
            why = f"outside {datatype}'s range [{info.min}, {info.max}]"
        raise RequestError(f"{where}: {datatype} data holds {bad}, {why}")
    return cast


def _first_misfit(data: list, kind: str) -> str:
    """What the first element that does not fit a datatype of `kind` is."""
    for value in _leaves(data):
        if kind == "b" and not isinstance(value, bool):
            return f"{what(value)} ({value!r:.40}); BOOL takes true and false"
        if not isinstance(value, bool | int | float):
            return f"{what(value)} ({value!r:.40}); give numbers"
    return "elements of different kinds; give numbers"


def _first_outside(data: list, want: np.dtype) -> object:
    """The first element of `data` an integer dtype cannot hold."""
    info = np.iinfo(want)
    return next((v for v in _leaves(data) if not info.min <= v <= info.max), "an element")


def _strings(data: list, where: str) -> np.ndarray:
    flat = list(_leaves(data))
    for value in flat:
        if not isinstance(value, str):
            raise RequestError(
                f"{where}: BYTES data holds {what(value)} ({value!r:.40}); give strings"
            )
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr


def _leaves(data: list) -> Iterator[object]:
    """The elements of nested lists in row-major order, without recursion (JSON may nest
    deeper than Python's stack)."""
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()
