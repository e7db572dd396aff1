"""Signatures: inferred from every kind of example, stored as JSON, and fitting inputs of every
kind to them: lossless casts done, everything else a SignatureError naming the column or
dimension."""

from __future__ import annotations

import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.errors import SignatureError
from cairn.models.signature import (
    Column,
    FrameSchema,
    Signature,
    TensorSchema,
    conform,
    infer_signature,
)

IRIS = FrameSchema(
    (
        Column("sepal_length", "float64"),
        Column("petals", "int64"),
        Column("species", "str"),
    )
)
ROWS = [[5.1, 2, "setosa"], [6.3, 3, "virginica"]]
RECORDS = [dict(zip(IRIS.names, row, strict=True)) for row in ROWS]
EXPECTED = pd.DataFrame(
    {
        "sepal_length": np.array([5.1, 6.3]),
        "petals": np.array([2, 3]),
        "species": ["setosa", "virginica"],
    }
)


def frame_of(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(columns)


# --- inference ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example",
    [
        EXPECTED,
        pl.DataFrame(
            {"sepal_length": [5.1, 6.3], "petals": [2, 3], "species": ["setosa", "virginica"]}
        ),
        RECORDS,
        RECORDS[0],
        EXPECTED.astype({"species": object}),  # strings as Python objects
    ],
    ids=["pandas", "polars", "list-of-dicts", "one-dict", "pandas-object-column"],
)
def test_a_frame_example_gives_its_columns_in_order(example: object) -> None:
    assert infer_signature(example).inputs == IRIS


@pytest.mark.parametrize(
    ("example", "schema"),
    [
        (np.zeros((3, 8, 8), np.float32), TensorSchema("float32", (-1, 8, 8))),
        (np.arange(5), TensorSchema("int64", (-1,))),
        ([[1, 2], [3, 4]], TensorSchema("int64", (-1, 2))),
        ([[1, 2.5], [3, 4]], TensorSchema("float64", (-1, 2))),
        ([[True], [False]], TensorSchema("bool", (-1, 1))),
        (np.array([["a"], ["bc"]]), TensorSchema("str", (-1, 1))),
    ],
)
def test_an_array_example_gives_dtype_and_shape_with_the_batch_dimension_free(
    example: object, schema: TensorSchema
) -> None:
    assert infer_signature(example).inputs == schema


def test_outputs_get_a_schema_too_and_nullable_and_polars_dtypes_map_to_numpy_names() -> None:
    signature = infer_signature(
        frame_of(n=pd.array([1, None], dtype="Int64"), f=pd.array([0.5, 1.0], dtype="Float32")),
        np.array([[0.1, 0.9], [0.8, 0.2]]),
    )
    assert signature.inputs == FrameSchema((Column("n", "int64"), Column("f", "float32")))
    assert signature.outputs == TensorSchema("float64", (-1, 2))
    polars = pl.DataFrame(
        {"u": pl.Series([1], dtype=pl.UInt8), "c": pl.Series(["x"], dtype=pl.Categorical)}
    )
    assert infer_signature(polars).inputs == FrameSchema(
        (Column("u", "uint8"), Column("c", "category"))
    )


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (np.float64(3.0), "cannot infer a signature from a float64"),
        (pd.DataFrame(np.zeros((2, 2))), "column 0 is named by a int"),
        ([{"a": 1}, {"b": 2}], "row 1: missing column 'a'"),
        ([[1, 2], [3]], "rows have different lengths"),
    ],
)
def test_examples_that_say_nothing_clear_are_refused(example: object, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        infer_signature(example)


# --- JSON -----------------------------------------------------------------------------------

DTYPES = st.sampled_from(["float64", "float32", "int64", "int8", "uint16", "bool", "str", "object"])
SCHEMAS = st.one_of(
    st.lists(st.tuples(st.text(min_size=1), DTYPES), min_size=1, max_size=6).map(
        lambda cols: FrameSchema(tuple(Column(n, d) for n, d in cols))
    ),
    st.builds(
        TensorSchema,
        DTYPES,
        st.lists(st.integers(1, 512), max_size=3).map(lambda dims: (-1, *dims)),
    ),
)


@settings(max_examples=60, deadline=None)
@given(SCHEMAS, st.none() | SCHEMAS)
def test_a_signature_survives_json(inputs: object, outputs: object) -> None:
    signature = Signature(inputs, outputs)  # type: ignore[arg-type]
    stored = json.dumps(signature.to_json())
    assert Signature.from_json(json.loads(stored)) == signature


def test_what_is_not_a_stored_signature_is_refused() -> None:
    with pytest.raises(SignatureError, match="not a stored signature"):
        Signature.from_json({"outputs": None})
    with pytest.raises(SignatureError, match="not a stored schema"):
        Signature.from_json({"inputs": {"type": "graph"}})


# --- conforming frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "inputs",
    [
        EXPECTED,
        EXPECTED[["species", "petals", "sepal_length"]],  # any column order
        pl.DataFrame({"species": ["setosa", "virginica"], "sepal_length": [5.1, 6.3],
                      "petals": [2, 3]}),
        RECORDS,
        ROWS,
        tuple(tuple(row) for row in ROWS),
        np.array(ROWS, dtype=object),
        frame_of(sepal_length=[5.1, 6.3], petals=np.array([2, 3], np.int32),  # int32 -> int64
                 species=["setosa", "virginica"]),
    ],
    ids=["pandas", "reordered", "polars", "dicts", "rows", "tuples", "ndarray", "int32"],
)  # fmt: skip
def test_every_input_kind_becomes_the_same_frame(inputs: object) -> None:
    got = conform(Signature(IRIS), inputs)
    assert list(got.columns) == IRIS.names
    assert got["sepal_length"].dtype == np.float64 and got["petals"].dtype == np.int64
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)


def test_one_dict_is_one_row() -> None:
    got = conform(Signature(IRIS), RECORDS[1])
    pd.testing.assert_frame_equal(got, EXPECTED[1:].reset_index(drop=True), check_dtype=False)


def test_ints_and_bools_go_into_float_columns_and_bools_into_int_columns() -> None:
    schema = FrameSchema((Column("x", "float64"), Column("n", "int64")))
    got = conform(Signature(schema), [{"x": 1, "n": True}, {"x": False, "n": 7}])
    assert got["x"].tolist() == [1.0, 0.0] and got["x"].dtype == np.float64
    assert got["n"].tolist() == [1, 7] and got["n"].dtype == np.int64
    from_frame = conform(Signature(schema), frame_of(x=np.array([3], np.int16), n=[False]))
    assert from_frame["x"].dtype == np.float64 and from_frame["n"].tolist() == [0]
    missing = conform(Signature(schema), [{"x": None, "n": 1}])
    assert np.isnan(missing["x"][0])  # a missing float is NaN


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"sepal_length": "wide", "petals": 2, "species": "a"}],
         r"column 'sepal_length': expected float64, got object \(str 'wide' at row 0\)"),
        (frame_of(sepal_length=["5.1"], petals=[2], species=["a"]),
         "column 'sepal_length': expected float64, got object"),
        ([[5.1, 2.5, "a"]], r"column 'petals': expected int64, got object \(float 2.5"),
        (frame_of(sepal_length=[5.1], petals=[2.0], species=["a"]),
         "column 'petals': expected int64, got float64"),
        (frame_of(sepal_length=[5.1], petals=[2], species=[3]),
         "column 'species': expected str, got int64"),
        (frame_of(sepal_length=[5.1], petals=pd.array([None], dtype="Int64"), species=["a"]),
         "column 'petals': expected int64, got a missing value at row 0"),
        (frame_of(sepal_length=[5.1], species=["a"]), "missing column 'petals'"),
        (frame_of(sepal_length=[5.1], petals=[2], species=["a"], z=[0]),
         "unknown column 'z'"),
        ([{"sepal_length": 5.1, "petals": 2}], "row 0: missing column 'species'"),
        (pl.DataFrame({"sepal_length": [5.1], "petals": [2]}), "missing column 'species'"),
        ([[5.1, 2]], r"row 0: expected 3 values \(columns sepal_length, petals, species\), "
                     "got 2 values"),
        (np.zeros((2, 2)), r"dimension 1: expected 3 \(columns sepal_length, petals, species\)"
                           ", got 2"),
        (np.zeros(3), "expected 2 dimensions"),
        ([], "no rows"),
        ("setosa", "expected rows with columns"),
    ],
)  # fmt: skip
def test_frame_inputs_that_do_not_fit_name_what_is_wrong(inputs: object, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        conform(Signature(IRIS), inputs)


def test_integers_that_do_not_fit_the_column_are_refused() -> None:
    small = Signature(FrameSchema((Column("n", "int8"),)))
    assert conform(small, [[127]])["n"].dtype == np.int8
    with pytest.raises(SignatureError, match="column 'n': expected int8"):
        conform(small, [[300]])
    with pytest.raises(SignatureError, match="column 'n': expected int8, got int64"):
        conform(small, frame_of(n=[1]))


def test_categories_are_kept_for_the_models_that_read_them() -> None:
    schema = Signature(FrameSchema((Column("c", "category"),)))
    categorical = frame_of(c=pd.Categorical(["a", "b"], categories=["b", "a", "z"]))
    assert conform(schema, categorical) is categorical
    got = conform(schema, [{"c": "a"}])
    assert isinstance(got["c"].dtype, pd.CategoricalDtype) and got["c"].tolist() == ["a"]


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from([np.int8, np.int32, np.uint16, np.bool_]), st.integers(1, 20)))
def test_any_integer_column_goes_into_a_float_column_unchanged(values: np.ndarray) -> None:
    schema = Signature(FrameSchema((Column("x", "float64"),)))
    got = conform(schema, frame_of(x=values))
    assert got["x"].dtype == np.float64
    np.testing.assert_array_equal(got["x"].to_numpy(), values.astype(np.float64))
    rows = conform(schema, [[v] for v in values.tolist()])
    np.testing.assert_array_equal(rows["x"].to_numpy(), values.astype(np.float64))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e6, 1e6)))
def test_floats_never_go_into_an_int_column(values: np.ndarray) -> None:
    schema = Signature(FrameSchema((Column("n", "int64"),)))
    with pytest.raises(SignatureError, match="column 'n': expected int64"):
        conform(schema, frame_of(n=values))
    with pytest.raises(SignatureError, match="column 'n': expected int64, got object \\(float"):
        conform(schema, [{"n": v} for v in values.tolist()])


# --- conforming arrays ----------------------------------------------------------------------

PIXELS = Signature(TensorSchema("float32", (-1, 64)))


@pytest.mark.parametrize(
    "inputs",
    [
        np.ones((2, 64), np.float32),
        np.ones((2, 64), np.int16),
        np.ones((2, 64), np.int64),  # any int goes into any float, as documented
        [[1.0] * 64, [1] * 64],  # Python numbers have no width: they fit float32
        pd.DataFrame(np.ones((2, 64), np.float32)),
        pl.DataFrame({f"p{i}": [1.0, 1.0] for i in range(64)}, schema={
            f"p{i}": pl.Float32 for i in range(64)}),
    ],
    ids=["float32", "int16", "int64", "lists", "pandas", "polars"],
)  # fmt: skip
def test_every_array_input_becomes_an_array_of_the_signature_dtype(inputs: object) -> None:
    got = conform(PIXELS, inputs)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (2, 64)
    assert (got == 1).all()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (np.zeros((2, 63), np.float32), "dimension 1: expected 64, got 63"),
        (np.zeros(64, np.float32), r"expected 2 dimensions .* got 1 .*one row is \[row\]"),
        (np.zeros((2, 8, 8), np.float32), "expected 2 dimensions"),
        (np.zeros((2, 64)), "input: expected float32, got float64"),  # would lose precision
        (np.zeros((2, 64), np.complex64), "input: expected float32, got complex64"),
        (np.array([["x"] * 64]), "input: expected float32, got str"),
        ([[1.0] * 63 + ["x"]], r"input: expected float32, got object \(str 'x' at index "
                               r"\(0, 63\)\)"),
        ([[1.0] * 64, [1.0] * 63], "rows have different lengths"),
        ([{"a": 1.0}], "expected an array"),
    ],
)  # fmt: skip
def test_array_inputs_that_do_not_fit_name_the_dimension_or_dtype(
    inputs: object, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        conform(PIXELS, inputs)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.int8, np.int32, np.uint8, np.bool_]),
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5),
    )
)
def test_an_array_fits_the_signature_inferred_from_it_and_is_kept_exactly(
    values: np.ndarray,
) -> None:
    signature = infer_signature(values)
    assert conform(signature, values) is values
    again = Signature.from_json(json.loads(json.dumps(signature.to_json())))
    np.testing.assert_array_equal(conform(again, values.tolist()), values)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 6))))
def test_a_wrong_width_is_named_by_its_dimension(values: np.ndarray) -> None:
    width = values.shape[1]
    signature = Signature(TensorSchema("int64", (-1, width + 1)))
    with pytest.raises(SignatureError, match=f"dimension 1: expected {width + 1}, got {width}"):
        conform(signature, values)


# --- without a signature --------------------------------------------------------------------


def test_without_a_signature_lists_become_arrays_and_frames_pass_through() -> None:
    assert isinstance(conform(None, [[1, 2]]), np.ndarray)
    assert conform(None, EXPECTED) is EXPECTED
    polars = pl.DataFrame({"a": [1]})
    assert conform(None, polars) is polars
    pd.testing.assert_frame_equal(conform(None, RECORDS), EXPECTED, check_dtype=False)
    pd.testing.assert_frame_equal(conform(None, RECORDS[0]), EXPECTED[:1], check_dtype=False)
