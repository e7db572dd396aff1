"""A model's signature: what its inputs (and outputs) look like, and fitting inputs to it.

Two kinds of schema:

- a frame schema: ordered column names, each with a dtype. Inferred from pandas and polars
  frames, a list of dicts (one per row) or one dict (one row). Conformed inputs are a pandas
  DataFrame with exactly those columns in that order.
- a tensor schema: one dtype and a shape whose first (batch) dimension is free (-1).
  Inferred from NumPy arrays (or anything with `__array__`, such as a torch tensor) and
  lists of rows. Conformed inputs are an ndarray of that dtype.

Dtypes are NumPy names (`float64`, `int32`, `bool`, `datetime64[ns]`, ...) plus `str` (text),
`category` (a pandas or polars categorical) and `object` (anything; not checked).

`conform` accepts NumPy arrays, pandas and polars frames, lists of rows, lists of dicts and a
single dict (one row). A list is always a batch: one row is `[row]`. An ndarray's columns and
a row's values are matched to a frame schema's columns by position, a dict's and a frame's by
name. It casts only where no information is lost (bool -> int -> float, int32 -> int64,
float32 -> float64); Python numbers, having no declared width, go into any integer or float
dtype they fit. Everything else is a SignatureError naming the column or dimension, what was
expected and what was given.

NumPy and pandas are imported when a signature is used, not with this module.
"""

from __future__ import annotations

import datetime
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.errors import SignatureError
from cairn.states import TextEnum

FREE = -1  # a dimension of any size: the batch dimension
ANY = "object"
TEXT = "str"
CATEGORY = "category"


class SchemaKind(TextEnum):
    """What a schema describes; stored as `type` in its JSON."""

    FRAME = "frame"
    TENSOR = "tensor"


class ValueKind(TextEnum):
    """What one Python value in a list or an object column is, for inferring a dtype and for
    telling whether a value fits one."""

    NONE = "none"  # None, NaN, pandas.NA: a missing value
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    DATETIME = "datetime"
    SEQUENCE = "sequence"  # a list, tuple or array: a row where a value was expected
    OTHER = "other"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str


@dataclass(frozen=True)
class FrameSchema:
    """Named columns, in order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> dict:
        return {
            "type": SchemaKind.FRAME.value,
            "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
        }

    def __str__(self) -> str:
        return "frame[" + ", ".join(f"{c.name}: {c.dtype}" for c in self.columns) + "]"


@dataclass(frozen=True)
class TensorSchema:
    """One array: its dtype and shape, -1 where any size fits (the batch dimension)."""

    dtype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict:
        return {"type": SchemaKind.TENSOR.value, "dtype": self.dtype, "shape": list(self.shape)}

    def __str__(self) -> str:
        return f"tensor[{self.dtype}, {_shape_text(self.shape)}]"


Schema = FrameSchema | TensorSchema


def schema_from_json(data: Mapping) -> Schema:
    """The schema `to_json` wrote."""
    try:
        kind = SchemaKind(data["type"])
        if kind is SchemaKind.FRAME:
            return FrameSchema(
                tuple(Column(str(c["name"]), str(c["dtype"])) for c in data["columns"])
            )
        return TensorSchema(str(data["dtype"]), tuple(int(n) for n in data["shape"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"not a stored schema: {data!r} ({exc})") from None


@dataclass(frozen=True)
class Signature:
    """A model's inputs, and its outputs if they were given when it was registered."""

    inputs: Schema
    outputs: Schema | None = None

    def to_json(self) -> dict:
        return {
            "inputs": self.inputs.to_json(),
            "outputs": None if self.outputs is None else self.outputs.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Signature:
        if not isinstance(data, Mapping) or "inputs" not in data:
            raise SignatureError(f"not a stored signature: {data!r}")
        outputs = data.get("outputs")
        return cls(
            schema_from_json(data["inputs"]),
            None if outputs is None else schema_from_json(outputs),
        )

    def __str__(self) -> str:
        return f"{self.inputs} -> {self.outputs if self.outputs is not None else '?'}"


def infer_signature(example: object, outputs: object | None = None) -> Signature:
    """The signature of a model that takes `example` (and, if given, returns `outputs`)."""
    return Signature(infer_schema(example), None if outputs is None else infer_schema(outputs))


def infer_schema(value: object) -> Schema:
    """A frame schema for frames, dicts and lists of dicts; a tensor schema for arrays and
    lists of rows."""
    pd, pl = _pandas_if_loaded(), _polars_if_loaded()
    if pd is not None and isinstance(value, pd.DataFrame):
        names = _column_names(list(value.columns))
        return FrameSchema(tuple(Column(n, _pandas_dtype(value[n])) for n in names))
    if pl is not None and isinstance(value, pl.DataFrame):
        return FrameSchema(tuple(Column(n, _polars_dtype(value[n].dtype)) for n in value.columns))
    if isinstance(value, Mapping) or _is_dict_list(value):
        columns = _dict_columns(None, [value] if isinstance(value, Mapping) else value)
        return FrameSchema(tuple(Column(n, _values_dtype(v)) for n, v in columns.items()))
    arr = _to_array(value)
    if arr.ndim == 0:
        raise SignatureError(
            f"cannot infer a signature from a {type(value).__qualname__}: give an example "
            "batch (an ndarray, a DataFrame, a list of rows or of dicts)"
        )
    return TensorSchema(_array_dtype(arr), (FREE, *arr.shape[1:]))


def conform(signature: Signature | None, inputs: object) -> object:
    """`inputs` as the model takes them: a pandas DataFrame with the signature's columns in
    order, or an ndarray of its dtype and shape. Without a signature, lists become ndarrays
    (lists of dicts and a dict, pandas DataFrames) and everything else passes through."""
    if signature is None:
        return _without_signature(inputs)
    if isinstance(signature.inputs, FrameSchema):
        return _conform_frame(signature.inputs, inputs)
    return _conform_tensor(signature.inputs, inputs)


# --- inference ------------------------------------------------------------------------------


def _column_names(names: list[object]) -> list[str]:
    for name in names:
        if not isinstance(name, str):
            raise SignatureError(
                f"column {name!r} is named by a {type(name).__qualname__}: name columns with "
                "str, or give an ndarray"
            )
    return names  # type: ignore[return-value]


def _pandas_dtype(series: Any) -> str:
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        return _array_dtype(series.to_numpy())
    if isinstance(dtype, pd.StringDtype):
        return TEXT
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORY
    numpy_type = getattr(dtype, "numpy_dtype", None)  # nullable Int64, Float64, boolean
    return _dtype_name(numpy_type) if isinstance(numpy_type, np.dtype) else ANY


def _polars_dtype(dtype: Any) -> str:
    import polars as pl

    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer() or dtype.is_float():
        return str(dtype).lower()
    if dtype == pl.String:
        return TEXT
    if dtype in (pl.Categorical, pl.Enum):
        return CATEGORY
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return f"datetime64[{dtype.time_unit}]"
    return ANY


def _array_dtype(arr: Any) -> str:
    return _values_dtype(arr) if arr.dtype.kind == "O" else _dtype_name(arr.dtype)


def _dtype_name(dtype: Any) -> str:
    """A NumPy dtype's name in a schema: text of any width is `str`, objects are unchecked."""
    if dtype.kind in "US":
        return TEXT
    return ANY if dtype.kind == "O" else dtype.name


def _values_dtype(values: Any) -> str:
    """The dtype a column of Python values would get: the widest kind present, missing
    values ignored (a number column with a missing value is float64)."""
    import numpy as np

    kinds = {_kind(v) for v in np.asarray(values, dtype=object).ravel()}
    missing = ValueKind.NONE in kinds
    kinds.discard(ValueKind.NONE)
    if not kinds:
        return ANY
    if kinds == {ValueKind.BOOL}:
        return "float64" if missing else "bool"
    if kinds <= {ValueKind.BOOL, ValueKind.INT}:
        return "float64" if missing else "int64"
    if kinds <= {ValueKind.BOOL, ValueKind.INT, ValueKind.FLOAT}:
        return "float64"
    if kinds == {ValueKind.STR}:
        return TEXT
    if kinds == {ValueKind.DATETIME}:
        return "datetime64[ns]"
    return ANY


def _kind(value: object) -> ValueKind:
    import numpy as np

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ValueKind.NONE
    if isinstance(value, bool | np.bool_):
        return ValueKind.BOOL
    if isinstance(value, int | np.integer):
        return ValueKind.INT
    if isinstance(value, float | np.floating):
        return ValueKind.FLOAT
    if isinstance(value, str):
        return ValueKind.STR
    if isinstance(value, datetime.datetime | np.datetime64):
        return ValueKind.DATETIME
    if isinstance(value, list | tuple | np.ndarray):
        return ValueKind.SEQUENCE
    pd = _pandas_if_loaded()
    if pd is not None and value is pd.NA:
        return ValueKind.NONE
    return ValueKind.OTHER


# --- conforming -----------------------------------------------------------------------------


def _without_signature(inputs: object) -> object:
    if isinstance(inputs, Mapping) or _is_dict_list(inputs):
        import pandas as pd

        return pd.DataFrame([inputs] if isinstance(inputs, Mapping) else list(inputs))
    if isinstance(inputs, list | tuple):
        return _to_array(inputs)
    return inputs


def _conform_frame(schema: FrameSchema, inputs: object) -> object:
    import pandas as pd

    names = schema.names
    pl = _polars_if_loaded()
    index = None
    if isinstance(inputs, pd.DataFrame):
        _check_names(names, list(inputs.columns), "")
        if all(_pandas_fits(inputs[c.name], c.dtype) for c in schema.columns):
            return inputs if list(inputs.columns) == names else inputs[names]
        raw = {n: _pandas_values(inputs[n]) for n in names}
        index = inputs.index
    elif pl is not None and isinstance(inputs, pl.DataFrame):
        _check_names(names, list(inputs.columns), "")
        raw = {n: _polars_values(inputs[n]) for n in names}
    elif isinstance(inputs, Mapping) or _is_dict_list(inputs):
        raw = _dict_columns(names, [inputs] if isinstance(inputs, Mapping) else inputs)
    else:
        raw = _positional_columns(schema, inputs)
    columns = {c.name: _cast_column(c, raw[c.name]) for c in schema.columns}
    return pd.DataFrame(columns, index=index)


def _check_names(expected: list[str], given: list[object], where: str) -> None:
    known = set(expected)
    for name in expected:
        if name not in given:
            raise SignatureError(f"{where}missing column {name!r} (expected {expected})")
    for name in given:
        if name not in known:
            raise SignatureError(f"{where}unknown column {name!r} (expected {expected})")


def _dict_columns(names: list[str] | None, rows: Sequence[Mapping]) -> dict[str, Any]:
    """Column name -> object array of the rows' values; every row has the same keys (the
    first row's when `names` is None)."""
    import numpy as np

    if not rows:
        raise SignatureError("no rows: give at least one")
    if names is None:
        names = _column_names(list(rows[0]))
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SignatureError(f"row {i}: expected a dict, got {type(row).__qualname__}")
        _check_names(names, list(row), f"row {i}: ")
    columns = {}
    for name in names:
        values = np.empty(len(rows), dtype=object)
        values[:] = [row[name] for row in rows]
        columns[name] = values
    return columns


def _positional_columns(schema: FrameSchema, inputs: object) -> dict[str, Any]:
    import numpy as np

    names = schema.names
    if isinstance(inputs, list | tuple):
        if not inputs:
            raise SignatureError("no rows: give at least one")
        table = np.empty((len(inputs), len(names)), dtype=object)
        for i, row in enumerate(inputs):
            if not isinstance(row, list | tuple) or len(row) != len(names):
                got = f"{len(row)} values" if isinstance(row, list | tuple) else _what(row)
                raise SignatureError(
                    f"row {i}: expected {len(names)} values (columns {', '.join(names)}), got {got}"
                )
            table[i] = row
    elif isinstance(inputs, np.ndarray):
        table = inputs
        if table.ndim != 2:
            raise SignatureError(
                f"expected 2 dimensions (rows x {len(names)} columns), got {table.ndim} "
                f"(shape {table.shape}); one row is [row]"
            )
        if table.shape[1] != len(names):
            raise SignatureError(
                f"dimension 1: expected {len(names)} (columns {', '.join(names)}), "
                f"got {table.shape[1]}"
            )
    else:
        raise SignatureError(
            f"expected rows with columns {names} (a DataFrame, a list of dicts or of rows, "
            f"an ndarray), got {_what(inputs)}"
        )
    return {name: table[:, j] for j, name in enumerate(names)}


def _pandas_fits(series: Any, expected: str) -> bool:
    """Whether a pandas column already has the dtype wanted, so the frame passes untouched."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if expected == ANY:
        return True
    if expected == TEXT:
        return isinstance(dtype, pd.StringDtype)
    if expected == CATEGORY:
        return isinstance(dtype, pd.CategoricalDtype)
    return isinstance(dtype, np.dtype) and dtype.kind != "O" and dtype.name == expected


def _pandas_values(series: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.array  # kept a Categorical: its categories matter to the model
    if isinstance(series.dtype, np.dtype):
        return series.to_numpy()
    return series.to_numpy(dtype=object, na_value=None)  # nullable and string dtypes


def _polars_values(series: Any) -> Any:
    import numpy as np

    if series.null_count():  # polars would turn the nulls of an integer column into NaN
        values = np.empty(len(series), dtype=object)
        values[:] = series.to_list()
        return values
    return series.to_numpy()


def _cast_column(column: Column, values: Any) -> Any:
    import pandas as pd

    where = f"column {column.name!r}"
    if column.dtype == CATEGORY:
        if isinstance(values, pd.Categorical):
            return values
        return pd.Categorical(values)
    if isinstance(values, pd.Categorical):
        values = values.to_numpy(dtype=object, na_value=None)
    return _cast(where, values, column.dtype)


def _conform_tensor(schema: TensorSchema, inputs: object) -> Any:
    if isinstance(inputs, Mapping) or _is_dict_list(inputs):
        raise SignatureError(
            f"expected an array ({schema}), got rows of named columns; give an ndarray or a "
            "list of rows"
        )
    fast = _numeric_rows(schema, inputs)
    if fast is not None:
        return fast
    arr = _to_array(inputs)
    if arr.ndim != len(schema.shape):
        hint = "; one row is [row]" if arr.ndim == len(schema.shape) - 1 else ""
        raise SignatureError(
            f"expected {len(schema.shape)} dimensions (shape {_shape_text(schema.shape)}), "
            f"got {arr.ndim} (shape {_shape_text(arr.shape)}){hint}"
        )
    for axis, (want, got) in enumerate(zip(schema.shape, arr.shape, strict=True)):
        if want != FREE and want != got:
            raise SignatureError(f"dimension {axis}: expected {want}, got {got}")
    return _cast("input", arr, schema.dtype)


def _numeric_rows(schema: TensorSchema, inputs: object) -> Any:
    """Lists of numbers that fit as they are, converted by NumPy in one call, or None.

    The careful path looks at every value in Python (about 100 us for one row of 64); a
    server gets rows of plain numbers nearly always. Python numbers go into any float dtype,
    and into an integer dtype only as integers in its range; everything else (and every
    misfit) takes the careful path, which says what is wrong."""
    import numpy as np

    if not isinstance(inputs, list) or schema.dtype in (ANY, TEXT):
        return None
    try:
        arr = np.array(inputs)
    except (ValueError, TypeError, OverflowError):  # ragged, or an int beyond 64 bits
        return None
    want = np.dtype(schema.dtype)
    if arr.ndim != len(schema.shape) or any(
        w not in (FREE, g) for w, g in zip(schema.shape, arr.shape, strict=True)
    ):
        return None
    kind = arr.dtype.kind
    fits = (
        (want.kind == "f" and kind in "biuf")
        or (want.kind in "iu" and kind in "biu" and _within(arr, want))
        or (want.kind == "b" and kind == "b")
    )
    return arr.astype(want, copy=False) if fits else None


def _within(arr: Any, want: Any) -> bool:
    import numpy as np

    info = np.iinfo(want)
    return arr.size == 0 or (arr.min() >= info.min and arr.max() <= info.max)


def _to_array(value: object) -> Any:
    """An ndarray of `value`; lists become object arrays so `_cast` sees each Python value."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    to_numpy = getattr(value, "to_numpy", None)  # pandas and polars frames
    if callable(to_numpy) and not isinstance(value, list | tuple):
        return to_numpy()
    if not isinstance(value, list | tuple):
        return np.asarray(value)
    try:
        arr = np.array(value, dtype=object)
    except ValueError:
        arr = None  # ragged at a depth NumPy cannot hold even as objects
    if arr is None or (arr.size and any(_kind(v) is ValueKind.SEQUENCE for v in arr.ravel())):
        raise SignatureError("rows have different lengths")
    if arr.ndim == 0:
        raise SignatureError("no rows: give at least one")
    return arr


def _cast(where: str, values: Any, expected: str) -> Any:
    """`values` as dtype `expected`, or a SignatureError if that would lose information."""
    import numpy as np

    if expected == ANY:
        return values
    got = values.dtype
    if got.kind == "O":
        return _cast_objects(where, values, expected)
    if expected == TEXT:
        if got.kind in "US":
            return values.astype(object)
        raise SignatureError(f"{where}: expected {expected}, got {got.name}")
    want = np.dtype(expected)
    if got == want:
        return values
    if got.kind in "US" or not (
        np.can_cast(got, want, "safe") or (got.kind in "biu" and want.kind == "f")
    ):
        raise SignatureError(f"{where}: expected {expected}, got {_dtype_name(got)}")
    return values.astype(want)


_ACCEPTED_KINDS = {  # NumPy dtype kind -> the kinds of Python values that fit it
    "f": {ValueKind.BOOL, ValueKind.INT, ValueKind.FLOAT, ValueKind.NONE},
    "i": {ValueKind.BOOL, ValueKind.INT},
    "u": {ValueKind.BOOL, ValueKind.INT},
    "b": {ValueKind.BOOL},
    "M": {ValueKind.DATETIME, ValueKind.NONE},
}


def _cast_objects(where: str, values: Any, expected: str) -> Any:
    import numpy as np

    flat = values.ravel()
    kinds = [_kind(v) for v in flat]
    if expected == TEXT:
        accepted = {ValueKind.STR, ValueKind.NONE}
    else:
        want = np.dtype(expected)
        accepted = _ACCEPTED_KINDS.get(want.kind, set())
    for i, kind in enumerate(kinds):
        if kind not in accepted:
            at = (
                f"row {i}"
                if values.ndim == 1
                else f"index {tuple(int(n) for n in np.unravel_index(i, values.shape))}"
            )
            what = type(flat[i]).__qualname__ if kind is ValueKind.OTHER else kind
            got = (
                f"a missing value at {at}"
                if kind is ValueKind.NONE
                else f"object ({what} {flat[i]!r:.40} at {at})"
            )
            raise SignatureError(f"{where}: expected {expected}, got {got}")
    if expected == TEXT:
        return values
    if want.kind == "f":
        flat = np.array(
            [math.nan if k is ValueKind.NONE else v for k, v in zip(kinds, flat, strict=True)]
        )
    try:
        return np.asarray(flat, dtype=object).astype(want).reshape(values.shape)
    except (OverflowError, ValueError, TypeError) as exc:
        raise SignatureError(f"{where}: expected {expected}: {exc}") from None


# --- helpers --------------------------------------------------------------------------------


def _is_dict_list(value: object) -> bool:
    return isinstance(value, list | tuple) and bool(value) and isinstance(value[0], Mapping)


def _what(value: object) -> str:
    module = type(value).__module__
    return (
        type(value).__qualname__ if module == "builtins" else f"{module}.{type(value).__qualname__}"
    )


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _pandas_if_loaded() -> Any:
    return sys.modules.get("pandas")


def _polars_if_loaded() -> Any:
    return sys.modules.get("polars")
