import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import roundtrip_via_bytes

names = st.text(min_size=1, max_size=8)  # unicode column names


@st.composite
def pandas_frames(draw):
    n = draw(st.integers(0, 20))
    cols = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    data = {}
    for c in cols:
        kind = draw(st.sampled_from(["int", "float", "str", "cat", "dt", "bool"]))
        if kind == "int":
            data[c] = np.array(
                draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)),
                dtype=np.int64,
            )
        elif kind == "float":
            vals = st.floats(allow_nan=True, allow_infinity=True, width=64)
            data[c] = np.array(draw(st.lists(vals, min_size=n, max_size=n)), dtype=np.float64)
        elif kind == "str":
            data[c] = pd.array(
                draw(st.lists(st.none() | st.text(max_size=5), min_size=n, max_size=n)), dtype="str"
            )
        elif kind == "cat":
            vals = draw(st.lists(st.sampled_from(["a", "bé", "c"]), min_size=n, max_size=n))
            data[c] = pd.Categorical(vals, categories=["a", "bé", "c"], ordered=draw(st.booleans()))
        elif kind == "dt":
            ints = draw(st.lists(st.integers(0, 2**60), min_size=n, max_size=n))
            data[c] = pd.to_datetime(np.array(ints, dtype="M8[ns]"))
        else:
            data[c] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    df = pd.DataFrame(data)
    index = draw(st.sampled_from(["range", "named", "multi", "strs"]))
    if index == "named":
        df.index = pd.Index(np.arange(n) * 3, name="ïdx")
    elif index == "multi":
        df.index = pd.MultiIndex.from_arrays(
            [np.arange(n), [f"k{i}" for i in range(n)]], names=["a", "b"]
        )
    elif index == "strs":
        df.index = pd.Index([f"r{i}" for i in range(n)], dtype="str")
    elif n:
        df.index = pd.RangeIndex(5, 5 + 2 * n, 2)
    return df


@settings(max_examples=60, deadline=None)
@given(pandas_frames())
def test_pandas_roundtrip(df):
    codec, out = roundtrip_via_bytes(df)
    empty_categorical = len(df) == 0 and any(str(t) == "category" for t in df.dtypes)
    # Arrow carries no categories for an empty column, so those frames go to pickle.
    assert codec == ("pickle.zstd" if empty_categorical else "frame.arrow")
    assert type(out) is pd.DataFrame
    pd.testing.assert_frame_equal(out, df, check_exact=True)
    pd.testing.assert_index_equal(out.index, df.index, exact=True)


def test_range_index_stays_range():
    df = pd.DataFrame({"x": [1, 2, 3]}, index=pd.RangeIndex(10, 40, 10, name="r"))
    _, out = roundtrip_via_bytes(df)
    assert isinstance(out.index, pd.RangeIndex)
    pd.testing.assert_frame_equal(out, df)


@pytest.mark.parametrize(
    "df",
    [
        pd.DataFrame({1: [1, 2], "x": [3, 4]}),  # non-str labels
        pd.DataFrame([[1, 2]], columns=["a", "a"]),  # duplicate labels
        pd.DataFrame({"m": [1, "a"]}),  # mixed object column
    ],
)
def test_frames_arrow_cannot_represent_fall_back_to_pickle(df):
    codec, out = roundtrip_via_bytes(df)
    assert codec == "pickle.zstd"
    pd.testing.assert_frame_equal(out, df)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "i": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
                "f": st.lists(st.floats(), min_size=n, max_size=n),
                "s": st.lists(st.none() | st.text(max_size=4), min_size=n, max_size=n),
                "c": st.lists(st.sampled_from(["x", "ÿ"]), min_size=n, max_size=n),
            }
        )
    )
)
def test_polars_roundtrip(cols):
    df = pl.DataFrame(
        {
            "int ü": pl.Series(cols["i"], dtype=pl.Int64),
            "f": pl.Series(cols["f"], dtype=pl.Float64),
            "s": pl.Series(cols["s"], dtype=pl.String),
            "cat": pl.Series(cols["c"], dtype=pl.Categorical),
            "enum": pl.Series(cols["c"], dtype=pl.Enum(["x", "ÿ", "z"])),
            "dt": pl.Series([0] * len(cols["c"]), dtype=pl.Datetime("us")),
        }
    )
    codec, out = roundtrip_via_bytes(df)
    assert codec == "frame.arrow"
    assert type(out) is pl.DataFrame
    assert out.schema == df.schema
    assert out.equals(df, null_equal=True)


def test_arrow_table_roundtrip():
    t = pa.table(
        {
            "a": pa.array([1, None, 3]),
            "d": pa.array(["x", "y", "x"]).dictionary_encode(),
            "ts": pa.array([0, 1, 2], pa.timestamp("ms", tz="UTC")),
        },
        metadata={"k": "v"},
    )
    codec, out = roundtrip_via_bytes(t)
    assert codec == "frame.arrow"
    assert isinstance(out, pa.Table)
    assert out.equals(t, check_metadata=True)
