"""What may be stored as a name, a metric value or a param, checked before anything is written."""

from __future__ import annotations

import json
import math
import numbers
import unicodedata

from cairn.errors import InvalidNameError, InvalidValueError

MAX_NAME_LENGTH = 255
_checked_names: set[str] = set()  # names already validated; the hot path looks here first


def check_name(name: object, what: str = "name") -> str:
    """A name is stored as a key and used in paths and filters: no separators, no controls."""
    if name in _checked_names:
        return name  # type: ignore[return-value]
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"{what} must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"{what} {name[:40]!r}... is longer than {MAX_NAME_LENGTH} chars")
    if "/" in name or "\\" in name:
        raise InvalidNameError(
            f"{what} {name!r} contains a path separator; use '.' or '_' to group names"
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise InvalidNameError(f"{what} {name!r} contains a control character")
    if name in (".", ".."):
        raise InvalidNameError(f"{what} {name!r} is reserved")
    if len(_checked_names) < 100_000:
        _checked_names.add(name)
    return name


def metric_value(key: str, value: object) -> float:
    """A metric is a real number; NaN and infinities are kept as they are."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and getattr(value, "size", None) == 1:  # 0-d arrays, tensors
        return metric_value(key, value.item())
    raise InvalidValueError(
        f"metric {key!r} must be a real number, got {type(value).__name__} {value!r:.60}; "
        "log text as a tag or an artifact instead"
    )


def param_json(key: str, value: object) -> tuple[str, float | None]:
    """A param as JSON, plus its numeric value when it has one (filters compare numbers)."""
    value = _plain(value)
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"param {key!r} cannot be stored: {exc}. Params must be JSON-like (numbers, "
            "strings, bools, None, lists and dicts of them); save objects with run.save()"
        ) from None
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value) if math.isfinite(value) else None
    return text, number


def _plain(value: object) -> object:
    """NumPy scalars and tuples become the JSON types they stand for."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
