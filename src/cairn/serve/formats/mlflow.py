"""MLflow's scoring protocol (`POST /invocations` of `mlflow models serve`, MLflow 2 and
later), so its clients and scripts work against cairn unchanged.

A JSON body is an object with exactly one of MLflow's input fields (and optionally `params`,
which cairn's models do not take: it is read and ignored, as MLflow does for a model
without params; other fields are ignored too, as MLflow ignores them):

- `dataframe_split`: `{"columns": [...], "data": [[...], ...], "index": [...]}` (only
  `data` required); a DataFrame, or without columns the rows, matched to the model's
  columns by position;
- `dataframe_records`: `[{column: value, ...}, ...]`; one dict a row;
- `instances`: a list of rows, or of dicts (one a row);
- `inputs`: a list of rows, or a dict of column -> list of values (for a tensor model,
  one name -> its tensor).

A `text/csv` body is a table with a header row of column names (pandas' `to_csv()`, whose
unnamed first column, the index, is read as the index). Columns a frame signature says are
text are read as text, so `007` stays `007`. An `application/vnd.apache.parquet` body is a
table too (its row count is checked before it is read). MLflow's unified LLM input
(`messages`, `prompt`) is not read.

The answer is `{"predictions": ...}`, frames as one object a row, as MLflow writes them.
"""

from __future__ import annotations

import csv
import io
import sys

from cairn.errors import RequestError, UnsupportedMediaTypeError
from cairn.models.signature import TEXT, FrameSchema, Signature, TensorSchema
from cairn.serve.formats.common import (
    CSV,
    JSON,
    MAX_ROWS,
    check_alike,
    check_rows,
    dumps,
    media_type,
    parse_json,
    rows_of,
    what,
)

PARQUET = "application/vnd.apache.parquet"
SPLIT = "dataframe_split"
RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = (SPLIT, RECORDS, INSTANCES, INPUTS)
EXAMPLE = '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}'
_REQUIRED = (
    f"the input must be a JSON object with exactly one of the fields {', '.join(FORMATS)} "
    f"(MLflow's scoring protocol), e.g. {EXAMPLE}"
)


def read_mlflow(
    body: bytes,
    content_type: str | None,
    signature: Signature | None,
    *,
    max_rows: int = MAX_ROWS,
) -> object:
    """The inputs of an `/invocations` request: a DataFrame, a list of rows or of dicts, or
    (CSV for a tensor model) an ndarray."""
    mime, params = media_type(content_type)
    unexpected = sorted(set(params) - {"charset"})
    if unexpected:
        raise UnsupportedMediaTypeError(
            f"unrecognized content type parameters: {', '.join(unexpected)}. MLflow 2 dropped "
            "format=pandas-split and format=pandas-records: send application/json with "
            f"{EXAMPLE}, or text/csv"
        )
    if mime == JSON:
        inputs = _read_json(body, signature)
    elif mime == CSV:
        inputs = _read_csv(body, signature)
    elif mime == PARQUET:
        inputs = _read_parquet(body, signature, max_rows)
    else:
        raise UnsupportedMediaTypeError(
            f"content type {mime!r}: /invocations takes {JSON}, {CSV} or {PARQUET}, as "
            "MLflow's scoring server does"
        )
    check_rows(rows_of(inputs), max_rows)
    return inputs


def write_mlflow(predictions: object) -> bytes:
    """MLflow's answer: `{"predictions": ...}`, a DataFrame or a Series as one object a row."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(predictions, pd.Series):
        predictions = predictions.to_frame()
    return dumps({"predictions": predictions})


def _read_json(body: bytes, signature: Signature | None) -> object:
    request = parse_json(body, EXAMPLE)
    if not isinstance(request, dict):
        raise RequestError(f"{_REQUIRED}; received {what(request)}")
    present = [key for key in FORMATS if key in request]
    if len(present) != 1:
        raise RequestError(f"{_REQUIRED}; received the fields {sorted(request)}")
    params = request.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError(f"'params' must be an object, got {what(params)}")
    (key,) = present
    value = request[key]
    if key == SPLIT:
        return _split(value)
    if key == RECORDS:
        if not isinstance(value, list):
            raise RequestError(
                f"{RECORDS} must be a list of records (objects column -> value), got {what(value)}"
            )
        if value and not isinstance(value[0], dict):
            raise RequestError(f"{RECORDS}: row 0 is {what(value[0])}; every row is an object")
        return check_alike(value, RECORDS)
    if key == INSTANCES:
        if not isinstance(value, list):
            raise RequestError(
                f"{INSTANCES} must be a list of rows or of objects, got {what(value)}"
            )
        return check_alike(value, INSTANCES)
    return _inputs(value, signature)


def _split(value: object) -> object:
    if not isinstance(value, dict):
        raise RequestError(
            f'{SPLIT} must be an object {{"columns": [...], "data": [[...], ...]}}, got '
            f"{what(value)}"
        )
    keys = set(value)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise RequestError(
            f"{SPLIT} must have a 'data' field and optionally 'columns' and 'index'; got "
            f"{sorted(keys)}"
        )
    data, columns, index = value["data"], value.get("columns"), value.get("index")
    if not isinstance(data, list):
        raise RequestError(f"{SPLIT}: 'data' must be a list of rows, got {what(data)}")
    if index is not None and (
        not isinstance(index, list)
        or len(index) != len(data)
        or any(isinstance(v, list | dict) for v in index)
    ):
        raise RequestError(f"{SPLIT}: 'index' must be a list of one label a row")
    if columns is None:  # rows matched to the model's columns by position; no index needed
        return check_alike(data, SPLIT)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError(f"{SPLIT}: 'columns' must be a list of column names (strings)")
    _check_unique(columns, SPLIT)
    rows = [row if isinstance(row, list) else [row] for row in data]  # pandas' one-column rows
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise RequestError(f"{SPLIT}: row {i} has {len(row)} values for {len(columns)} columns")
    import pandas as pd

    return pd.DataFrame(rows, columns=columns, index=index)


def _inputs(value: object, signature: Signature | None) -> object:
    if isinstance(value, list):
        return check_alike(value, INPUTS)
    if not isinstance(value, dict):
        raise RequestError(
            f"{INPUTS} must be a list of rows or an object of column -> values, got {what(value)}"
        )
    schema = None if signature is None else signature.inputs
    if isinstance(schema, TensorSchema) and len(value) == 1:
        (tensor,) = value.values()  # a named tensor: the model's one input
        if not isinstance(tensor, list):
            raise RequestError(f"{INPUTS}: the tensor must be a list of rows, got {what(tensor)}")
        return tensor
    if not value:
        raise RequestError(f"{INPUTS} is an empty object: give column -> values")
    lengths = {len(v) if isinstance(v, list) else None for v in value.values()}
    if lengths == {None}:
        return [value]  # one value a column: one row
    if len(lengths) != 1:
        raise RequestError(
            f"{INPUTS}: the length of values for each input/column name are not the same "
            f"({', '.join(f'{k}: {_length(v)}' for k, v in value.items())})"
        )
    import pandas as pd

    return pd.DataFrame(value)


def _length(value: object) -> str:
    return str(len(value)) if isinstance(value, list) else "one value"


def _check_unique(columns: list[str], field: str) -> None:
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise RequestError(f"{field}: column {name!r} is given twice")
        seen.add(name)


def _read_csv(body: bytes, signature: Signature | None) -> object:
    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the CSV body is not UTF-8: {exc}") from None
    schema = None if signature is None else signature.inputs
    text_columns = (
        {c.name: str for c in schema.columns if c.dtype == TEXT}
        if isinstance(schema, FrameSchema)
        else None
    )
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=text_columns)
    except (ValueError, csv.Error) as exc:  # pandas' ParserError and EmptyDataError too
        raise RequestError(
            "failed to read the body as CSV: give a header row of column names, then one row "
            f"a line, as pandas.DataFrame.to_csv() writes ({exc})"
        ) from None
    if len(frame.columns) and frame.columns[0] == "Unnamed: 0":
        frame = frame.set_index(frame.columns[0])  # to_csv()'s index: an empty header cell
    if isinstance(schema, TensorSchema):
        return frame.to_numpy()
    return frame


def _read_parquet(body: bytes, signature: Signature | None, max_rows: int) -> object:
    import pyarrow
    import pyarrow.parquet as pq

    unreadable = (pyarrow.ArrowException, ValueError, TypeError, OSError)
    hint = "failed to read the body as Parquet (pandas.DataFrame.to_parquet() writes it)"
    try:
        table = pq.ParquetFile(io.BytesIO(body))
        rows = table.metadata.num_rows
    except unreadable as exc:
        raise RequestError(f"{hint}: {exc}") from None
    check_rows(rows, max_rows)  # before decompressing a table that may be huge
    try:
        frame = table.read().to_pandas()
    except unreadable as exc:
        raise RequestError(f"{hint}: {exc}") from None
    schema = None if signature is None else signature.inputs
    if isinstance(schema, TensorSchema):
        return frame.to_numpy()
    return frame
