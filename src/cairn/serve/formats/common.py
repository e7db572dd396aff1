"""What every wire format shares: reading a content type and a JSON body, counting rows, and
writing JSON with NumPy and pandas values in it.

Every problem with a request body is a RequestError (or its subclasses
UnsupportedMediaTypeError and PayloadTooLargeError) that says what to send instead; nothing
else escapes a reader. A value a writer cannot put into JSON is the model's doing, so it is a
PredictError.
"""

from __future__ import annotations

import datetime
import functools
import json
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from cairn.errors import PayloadTooLargeError, PredictError, RequestError, UnsupportedMediaTypeError

MAX_ROWS = 10_000  # rows one request may hold; `cairn serve --max-rows` changes it
JSON = "application/json"
CSV = "text/csv"
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


@functools.lru_cache(maxsize=256)  # clients send the same few headers over and over
def media_type(content_type: str | None) -> tuple[str, tuple[str, ...]]:
    """The media type (lower case) and the names of its parameters; a body without a
    content type is taken as JSON. A charset other than UTF-8 is refused."""
    if content_type is None:
        return JSON, ()
    mime, _, rest = content_type.partition(";")
    params = {}
    for pair in rest.split(";"):
        key, _, value = pair.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"')
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError(
            f"charset {charset!r} is not supported: send the body in UTF-8 "
            "(Content-Type: application/json; charset=utf-8)"
        )
    return mime.strip().lower() or JSON, tuple(params)


def require_json(content_type: str | None, example: str) -> None:
    """Refuse a body that is not declared as JSON; `example` shows a request that works."""
    if content_type is None or content_type == JSON:  # the hot path: no parsing
        return
    mime, _ = media_type(content_type)
    if mime != JSON:
        hint = (
            " (curl -d sends that unless told otherwise: add -H 'Content-Type: application/json')"
            if mime == "application/x-www-form-urlencoded"
            else ""
        )
        raise UnsupportedMediaTypeError(
            f"content type {mime!r} is not accepted here{hint}; send application/json, "
            f"e.g. {example}"
        )


def parse_json(body: bytes, example: str) -> Any:
    """The JSON document in `body`. NaN and Infinity, which orjson refuses but Python's and
    pandas' JSON writers produce, are read too (as floats)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    if b"NaN" in body or b"Infinity" in body:
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            pass  # orjson's message says best what is wrong
    raise RequestError(f"malformed JSON: {error}; send e.g. {example}") from None


def what(value: object) -> str:
    """A JSON value's kind as a client would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__qualname__


def rows_of(inputs: object) -> int:
    """How many rows `inputs` holds: a list or tuple is a batch of rows, a dict is one row,
    an ndarray or a DataFrame has its rows on axis 0."""
    if isinstance(inputs, list | tuple):
        return len(inputs)
    if isinstance(inputs, Mapping):
        return 1
    shape = getattr(inputs, "shape", None)
    if isinstance(shape, tuple):
        return int(shape[0]) if shape else 1
    return 1


def check_alike(rows: list, where: str) -> list:
    """`rows`, refused when the first is an object (column -> value) and another is not:
    rows are matched to columns either all by name or all by position."""
    if rows and isinstance(rows[0], Mapping):
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise RequestError(
                    f"{where}: row {i} is {what(row)}; the first row is an object (column -> "
                    "value), so every row must be"
                )
    return rows


def check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise PayloadTooLargeError(
            f"{rows} rows: a request may hold at most {max_rows}; split it into smaller requests"
        )
    if rows < 1:
        raise RequestError("no rows: give at least one")


def dumps(document: object) -> bytes:
    """`document` as JSON; NumPy arrays and scalars, pandas frames (as records), series,
    timestamps and missing values included."""
    try:
        return orjson.dumps(document, default=_jsonable, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, PredictError) else exc
        raise PredictError(f"the model's output cannot be written as JSON: {cause}") from None


def _jsonable(value: Any) -> Any:
    """What orjson cannot write itself, as something it can."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return np.datetime_as_string(value).tolist()
        return value.tolist()  # not C-contiguous, or of a dtype orjson leaves to us
    if isinstance(value, np.generic):
        return value.item()
    pd = sys.modules.get("pandas")
    if pd is not None:
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, pd.DataFrame):  # as MLflow writes frames: one object a row
            return value.rename(columns=str).to_dict(orient="records")
        if isinstance(value, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
            return value.tolist()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # pandas' Timestamp: a datetime subclass orjson refuses
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise PredictError(f"a {type(value).__qualname__} is not a JSON value")
