"""The prediction cache: content keys, LRU eviction, versions kept apart, hit and miss counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.errors import InvalidValueError
from cairn.serve.cache import PredictionCache

key_of = PredictionCache.key_of


def test_equal_arrays_share_a_key_whatever_their_memory_layout() -> None:
    array = np.arange(12.0).reshape(3, 4)
    key = key_of(array)
    assert isinstance(key, bytes)
    assert key_of(array.copy()) == key
    assert key_of(np.asfortranarray(array)) == key
    assert key_of(np.arange(24.0).reshape(3, 8)[:, ::2] / 2) == key  # a strided view


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(np.arange(12.0).reshape(3, 4).astype(np.float32), id="dtype"),
        pytest.param(np.arange(12).reshape(3, 4), id="int-dtype"),
        pytest.param(np.arange(12.0).reshape(4, 3), id="shape"),
        pytest.param(np.arange(12.0).reshape(3, 4).astype(">f8"), id="byte-order"),
        pytest.param(np.arange(1.0, 13.0).reshape(3, 4), id="values"),
    ],
)
def test_arrays_differing_in_dtype_shape_or_values_have_other_keys(other: np.ndarray) -> None:
    assert key_of(other) != key_of(np.arange(12.0).reshape(3, 4))


def test_object_arrays_are_keyed_by_their_json_text() -> None:
    assert key_of(np.array(["a", 1], dtype=object)) == key_of(np.array(["a", 1], dtype=object))
    ones = [key_of(np.array([v], dtype=object)) for v in (1, 1.0, "1", True)]
    assert len(set(ones)) == 4
    assert key_of(np.array([object()], dtype=object)) is None


def test_frames_are_keyed_by_columns_dtypes_and_values() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    key = key_of(frame)
    assert isinstance(key, bytes)
    assert key_of(frame.copy()) == key
    assert key_of(frame.set_axis([7, 8])) == key  # the index is not an input
    assert key_of(frame.rename(columns={"a": "c"})) != key
    assert key_of(frame[["b", "a"]]) != key
    assert key_of(frame.astype({"a": "float32"})) != key
    assert key_of(frame.astype({"b": "category"})) != key
    assert key_of(frame.assign(b=["x", "z"])) != key
    assert key_of(frame.assign(a=[1.0, 3.0])) != key
    assert key_of(frame.iloc[:1]) != key
    assert key_of(pd.DataFrame({"a": [object()]})) is None


def test_other_inputs_have_no_key() -> None:
    assert key_of([[1.0, 2.0]]) is None
    assert key_of({"a": [1]}) is None


def test_hits_and_misses_are_counted() -> None:
    cache = PredictionCache()
    key = key_of(np.ones((1, 3)))
    assert cache.get("digits/1", key) is None
    cache.put("digits/1", key, np.array([7]))
    np.testing.assert_array_equal(cache.get("digits/1", key), [7])
    np.testing.assert_array_equal(cache.get("digits/1", key), [7])
    assert (cache.hits, cache.misses, len(cache)) == (2, 1, 1)


def test_versions_are_kept_apart() -> None:
    cache = PredictionCache()
    key = key_of(np.ones((1, 3)))
    cache.put("digits/1", key, "one")
    cache.put("digits/2", key, "two")
    assert cache.get("digits/1", key) == "one"
    assert cache.get("digits/2", key) == "two"
    assert cache.get("digits/3", key) is None
    assert len(cache) == 2


def test_the_least_recently_used_entry_is_evicted() -> None:
    cache = PredictionCache(max_entries=2)
    a, b, c = (key_of(np.full((1, 2), float(v))) for v in (1, 2, 3))
    cache.put("m/1", a, "a")
    cache.put("m/1", b, "b")
    assert cache.get("m/1", a) == "a"  # now b is the least recently used
    cache.put("m/1", c, "c")
    assert len(cache) == 2
    assert cache.get("m/1", b) is None
    assert cache.get("m/1", a) == "a" and cache.get("m/1", c) == "c"
    cache.put("m/1", a, "a again")  # a put refreshes too
    cache.put("m/1", b, "b")
    assert cache.get("m/1", c) is None
    assert cache.get("m/1", a) == "a again"


@pytest.mark.parametrize("entries", [0, -1, 2.5])
def test_a_cache_needs_room_for_one_entry(entries: object) -> None:
    with pytest.raises(InvalidValueError, match="at least 1"):
        PredictionCache(entries)  # type: ignore[arg-type]
