"""Digests of step inputs, computed once per object per process.

Small plain values (numbers, strings, lists and dicts of them) are hashed as JSON. Arrays
are hashed over their raw bytes (BLAKE3, all cores) with dtype and shape; anything else
through its codec. A digest is remembered per object identity together with a cheap
fingerprint (shape, dtype, data address and a sample of the bytes), so a pipeline that
passes the same 1 GB array through ten steps hashes it once. An in-place change that the
fingerprint's sample misses is not noticed: steps should not mutate their inputs.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import blake3

from cairn.errors import CairnError

SAMPLE_POINTS = 64
_known: dict[int, tuple[weakref.ref, tuple, str]] = {}  # id -> (ref, fingerprint, digest)


class StepInputError(CairnError, TypeError):
    """A step argument whose content cannot be hashed."""


def _blake(data: Any) -> str:
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()


def plain_json(value: object) -> str | None:
    """Canonical JSON for plain values, None for anything else."""
    if value is None or isinstance(value, bool | int | float | str):
        return json.dumps(value, allow_nan=True)
    if isinstance(value, list | tuple) and len(value) <= 1000:
        parts = [plain_json(v) for v in value]
        return None if None in parts else f"[{','.join(parts)}]"
    if isinstance(value, dict) and len(value) <= 1000 and all(isinstance(k, str) for k in value):
        parts = [plain_json(value[k]) for k in sorted(value)]
        if None in parts:
            return None
        pairs = zip(sorted(value), parts, strict=True)
        return "{" + ",".join(f"{json.dumps(k)}:{p}" for k, p in pairs) + "}"
    return None


def fingerprint(value: object) -> tuple | None:
    """Cheap facts that change when an array changes; None when there are none to take."""
    np = _numpy_if_array(value)
    if np is None:
        return None
    flat = value.reshape(-1) if value.flags.c_contiguous else None
    if flat is None or flat.size == 0:
        return (value.shape, value.dtype.str, value.__array_interface__["data"][0])
    index = np.linspace(0, flat.size - 1, num=min(SAMPLE_POINTS, flat.size)).astype(np.intp)
    return (
        value.shape,
        value.dtype.str,
        value.__array_interface__["data"][0],
        flat[index].tobytes(),
    )


def _remember(value: object, digest: str) -> None:
    fp = fingerprint(value)
    if fp is None:
        return
    key = id(value)
    try:
        ref = weakref.ref(value, lambda _: _known.pop(key, None))
    except TypeError:
        return
    _known[key] = (ref, fp, digest)


def digest_of_value(value: object, argument: str, step: str) -> str:
    """The content digest of one step argument."""
    text = plain_json(value)
    if text is not None:
        return "json:" + _blake(text.encode())
    entry = _known.get(id(value))
    if entry is not None and entry[0]() is value and entry[1] == fingerprint(value):
        return entry[2]
    digest = _hash_content(value, argument, step)
    _remember(value, digest)
    return digest


def _hash_content(value: object, argument: str, step: str) -> str:
    np = _numpy_if_array(value)
    if np is not None and not value.dtype.hasobject:
        array = np.ascontiguousarray(value)
        header = f"{array.dtype.str}{array.shape}".encode()
        return "array:" + _blake(header + _blake(memoryview(array).cast("B")).encode())
    from cairn import codecs

    try:
        encoded = codecs.encode(value)
    except Exception as exc:
        raise StepInputError(
            f"argument {argument!r} of step {step!r} cannot be hashed "
            f"({type(value).__name__}: {exc}). Pass data (arrays, frames, plain values), an "
            "artifact loaded with cairn.load, or an object that pickles; pass settings that "
            "should not count as an input as keyword arguments listed in ignore=[...]"
        ) from None
    return f"{encoded.codec}:" + _blake(encoded.data)


def _numpy_if_array(value: object) -> Any:
    import sys

    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return np
    return None
