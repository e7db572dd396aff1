"""What a dataset version holds, in a few numbers, and how two versions differ."""

from __future__ import annotations

import math

from cairn.datasets.files import FileSet


def summarize(value: object) -> dict:
    """Schema and size of a frame, shape/dtype/statistics of an array, files of a file set."""
    module = type(value).__module__.split(".")[0]
    if isinstance(value, FileSet):
        return {"type": "files", "files": len(value.files), "bytes": value.total_size}
    if module == "numpy" and hasattr(value, "dtype"):
        return _array_summary(value)
    if module in ("pandas", "polars", "pyarrow") and hasattr(value, "columns"):
        return _frame_summary(value)
    return {"type": type(value).__name__}


def _array_summary(array) -> dict:
    import numpy as np

    summary = {"type": "array", "shape": list(array.shape), "dtype": str(array.dtype)}
    if array.size and np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array):
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        summary.update(
            min=_plain(finite.min()) if finite.size else None,
            max=_plain(finite.max()) if finite.size else None,
            mean=_plain(finite.mean()) if finite.size else None,
            nans=int(np.isnan(array).sum()) if array.dtype.kind == "f" else 0,
        )
    return summary


def _frame_summary(frame) -> dict:
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        schema = {str(c): str(t) for c, t in frame.dtypes.items()}
        rows = len(frame)
    elif module == "polars":
        schema = {c: str(t) for c, t in frame.schema.items()}
        rows = frame.height
    else:
        schema = {f.name: str(f.type) for f in frame.schema}
        rows = frame.num_rows
    return {"type": "frame", "rows": rows, "columns": schema}


def _plain(x) -> float | int:
    value = x.item() if hasattr(x, "item") else x
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def diff(a: object, b: object) -> dict:
    """The differences between two versions, by the kind of value they hold."""
    sa, sb = summarize(a), summarize(b)
    result: dict = {"from": sa, "to": sb}
    if isinstance(a, FileSet) and isinstance(b, FileSet):
        result["added"] = sorted(set(b.files) - set(a.files))
        result["removed"] = sorted(set(a.files) - set(b.files))
        result["changed"] = sorted(
            p for p in set(a.files) & set(b.files) if a.files[p][0] != b.files[p][0]
        )
    elif sa.get("type") == sb.get("type") == "frame":
        ca, cb = sa["columns"], sb["columns"]
        result["rows"] = [sa["rows"], sb["rows"]]
        result["added_columns"] = {c: cb[c] for c in cb if c not in ca}
        result["removed_columns"] = {c: ca[c] for c in ca if c not in cb}
        result["changed_types"] = {c: [ca[c], cb[c]] for c in ca if c in cb and ca[c] != cb[c]}
    elif sa.get("type") == sb.get("type") == "array":
        result["changed"] = {k: [sa.get(k), sb.get(k)] for k in sa if sa.get(k) != sb.get(k)}
    return result
