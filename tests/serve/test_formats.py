"""Request and response formats: cairn's v1, the Open Inference Protocol (v2) and MLflow's
scoring protocol, with the examples from their documentation, every malformed case a
RequestError that says what is wrong, and fuzzed bodies that never raise anything else.

Cost on this machine (AMD EPYC, 2 cores shared with other work; one row of the digits, 64
floats; best of 5 x 200,000): read_v1 1.5-2.8 µs, of which orjson.loads is 1.5-2.7 µs;
write_v1 0.6-0.9 µs; both together 2-4.7 µs. read_v2 of the same row 12-24 µs, write_v2
6-12 µs, read_mlflow 4-7 µs. See test_v1_hot_path_cost.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import timeit

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.errors import (
    CairnError,
    PayloadTooLargeError,
    PredictError,
    RequestError,
    UnsupportedMediaTypeError,
)
from cairn.models.signature import Column, FrameSchema, Signature, TensorSchema, conform
from cairn.serve.formats import (
    MAX_ROWS,
    V2Request,
    Wire,
    read_mlflow,
    read_v1,
    read_v2,
    read_v2_request,
    rows_of,
    v2_metadata,
    write_mlflow,
    write_v1,
    write_v2,
)

JSON = "application/json"
PID = "01JDXYZ0123456789ABCDEFGHJ"
TENSOR = Signature(TensorSchema("float64", (-1, 4)), TensorSchema("int64", (-1,)))
FRAME = Signature(
    FrameSchema((Column("a", "int64"), Column("b", "float64"), Column("name", "str"))),
    FrameSchema((Column("label", "str"),)),
)


def body(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, which clients may send all the same
        return json.dumps(value).encode()


def refused(error: type[Exception], read, *args, **kwargs) -> str:
    with pytest.raises(error) as info:
        read(*args, **kwargs)
    return str(info.value)


def test_wire_names() -> None:
    assert [str(w) for w in Wire] == ["v1", "v2", "mlflow"]


# --- v1 -------------------------------------------------------------------------------------


def test_v1_reads_rows_dicts_and_one_row() -> None:
    assert read_v1(body({"inputs": [[1, 2.5], [3, 4]]}), JSON) == [[1, 2.5], [3, 4]]
    assert read_v1(body({"inputs": [{"a": 1}, {"a": 2}]}), None) == [{"a": 1}, {"a": 2}]
    assert read_v1(body({"inputs": {"a": 1, "b": "x"}}), JSON) == {"a": 1, "b": "x"}
    assert read_v1(b'{"inputs": [1, 2, 3]}', "application/json; charset=UTF-8") == [1, 2, 3]


def test_v1_reads_nan_and_infinity_as_python_and_pandas_write_them() -> None:
    (row,) = read_v1(b'{"inputs": [[NaN, Infinity, -Infinity]]}', JSON)
    assert math.isnan(row[0]) and row[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "malformed JSON: Input is a zero-length, empty document: line 1 column 1"),
        (b'{"inputs": [[1, 2]', "malformed JSON: unexpected end of data: line 1 column 19"),
        (b'{"inputs": [[1, 2]]} x', "unexpected content after document"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"inputs": [NaN', "malformed JSON"),
        (b"[[1, 2]]", "a v1 request is a JSON object, got a list"),
        (b"{}", "no field 'inputs'"),
        (b'{"input": [[1]]}', "unknown field 'input'"),
        (b'{"inputs": [[1]], "id": "x"}', "unknown field 'id'"),
        (b'{"inputs": 3}', "'inputs' is a number: give a list of rows"),
        (b'{"inputs": null}', "'inputs' is null"),
        (b'{"inputs": {}}', "'inputs' is an empty object: give column -> value"),
        (b'{"inputs": []}', "no rows: give at least one"),
        (b'{"inputs": [{"a": 1}, [1]]}', "'inputs': row 1 is a list; the first row is an object"),
    ],
)
def test_v1_refuses_bad_bodies_saying_what_to_send(raw: bytes, words: str) -> None:
    message = refused(RequestError, read_v1, raw, JSON)
    assert words in message
    assert "inputs" in message or "rows" in message  # every message shows what works


def test_v1_content_types() -> None:
    message = refused(UnsupportedMediaTypeError, read_v1, b"{}", "text/plain")
    assert "'text/plain' is not accepted here" in message and "application/json" in message
    message = refused(
        UnsupportedMediaTypeError, read_v1, b"{}", "application/x-www-form-urlencoded"
    )
    assert "curl -d" in message and "-H 'Content-Type: application/json'" in message
    message = refused(
        UnsupportedMediaTypeError, read_v1, b"{}", "application/json; charset=latin-1"
    )
    assert "charset 'latin-1' is not supported" in message
    assert read_v1(b'{"inputs": [1]}', 'Application/JSON; charset="utf-8"') == [1]


def test_v1_row_limit() -> None:
    rows = [[0.0]] * 11
    assert read_v1(body({"inputs": rows}), JSON, max_rows=11) == rows
    message = refused(PayloadTooLargeError, read_v1, body({"inputs": rows}), JSON, max_rows=10)
    assert message == "11 rows: a request may hold at most 10; split it into smaller requests"
    assert MAX_ROWS == 10_000


def test_v1_writes_predictions_with_model_version_and_id() -> None:
    answer = orjson.loads(write_v1("digits", 3, np.array([7, 1]), PID))
    assert answer == {"predictions": [7, 1], "model": "digits", "version": 3, "id": PID}
    answer = orjson.loads(write_v1("digits", 3, [0.5], PID, fallback=True))
    assert answer["default"] is True and answer["predictions"] == [0.5]


@pytest.mark.parametrize(
    ("predictions", "written"),
    [
        (np.arange(6).reshape(2, 3).T, [[0, 3], [1, 4], [2, 5]]),  # not C-contiguous
        (np.array([1.5, np.nan], dtype=np.float32), [1.5, None]),
        (np.array(["cat", "dog"]), ["cat", "dog"]),
        (np.array([b"x"], dtype=object), ["x"]),
        (np.array(["2024-01-02"], dtype="datetime64[ns]"), ["2024-01-02T00:00:00"]),
        (np.array([np.int64(3), None], dtype=object), [3, None]),
        (pd.Series([1, 2], name="y"), [1, 2]),
        (pd.Series([1, None], dtype="Int64"), [1, None]),
        (pd.DataFrame({"p": [0.25], 1: ["a"]}), [{"p": 0.25, "1": "a"}]),
        (pd.DataFrame({"t": pd.to_datetime(["2024-01-02"])}), [{"t": "2024-01-02T00:00:00"}]),
        (np.float32(2.5), 2.5),
        ([pd.NA, pd.NaT], [None, None]),
    ],
)
def test_v1_writes_what_models_return(predictions: object, written: object) -> None:
    assert orjson.loads(write_v1("m", 1, predictions, PID))["predictions"] == written


def test_an_output_json_cannot_hold_is_the_models_fault() -> None:
    with pytest.raises(PredictError, match="cannot be written as JSON.*complex"):
        write_v1("m", 1, [complex(1, 2)], PID)
    with pytest.raises(PredictError, match="cannot be written as JSON"):
        write_mlflow(object())


def test_v1_round_trip_through_a_real_model() -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=200).fit(x[:300], y[:300])
    signature = Signature(TensorSchema("float64", (-1, 64)))
    request = body({"inputs": x[300:303].tolist()})
    predictions = model.predict(conform(signature, read_v1(request, JSON)))
    answer = orjson.loads(write_v1("digits", 2, predictions, PID))
    assert answer["predictions"] == model.predict(x[300:303]).tolist()


def test_v1_hot_path_cost() -> None:
    """Measured, not asserted against a bound (the machine is shared): printed with -s."""
    row = np.linspace(0, 16, 64).tolist()
    request, outputs = body({"inputs": [row]}), np.array([3])
    n = 20_000
    read_s = min(timeit.repeat(lambda: read_v1(request, JSON), number=n, repeat=3)) / n
    write_s = min(timeit.repeat(lambda: write_v1("d", 1, outputs, PID), number=n, repeat=3)) / n
    print(f"read_v1 {read_s * 1e6:.2f} µs, write_v1 {write_s * 1e6:.2f} µs (one row of 64)")
    assert read_v1(request, JSON) == [row]


# --- v2: the Open Inference Protocol --------------------------------------------------------

KSERVE_IRIS = {  # KServe's sklearn v2 example (iris-input-v2.json)
    "inputs": [
        {
            "name": "input-0",
            "shape": [2, 4],
            "datatype": "FP32",
            "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]],
        }
    ]
}


def tensor(name: str, shape: list, datatype: str, data: list, **more: object) -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **more}


def test_v2_reads_kserves_iris_example() -> None:
    arr = read_v2(body(KSERVE_IRIS), JSON, None)
    assert arr.dtype == np.float32 and arr.shape == (2, 4)
    np.testing.assert_allclose(arr[1], [6.0, 3.4, 4.5, 1.6], rtol=1e-6)
    assert conform(TENSOR, read_v2(body(KSERVE_IRIS), JSON, TENSOR)).dtype == np.float64


def test_v2_reads_the_specifications_example_and_refuses_its_inconsistent_input() -> None:
    """The OIP spec's example request: input0 is fine; input1 says shape [3] but holds one
    element, which a server must not guess about."""
    input0 = tensor("input0", [2, 2], "UINT32", [1, 2, 3, 4])
    input1 = tensor("input1", [3], "BOOL", [True])
    spec = {"id": "42", "inputs": [input0, input1], "outputs": [{"name": "output0"}]}
    message = refused(RequestError, read_v2, body(spec), JSON, None)
    assert message == "input 'input1': shape [3] holds 3 elements, 'data' has 1"
    request = read_v2_request(body({**spec, "inputs": [input0]}), JSON, None)
    assert request.id == "42" and request.outputs == ("output0",)
    assert request.inputs.dtype == np.uint32
    assert request.inputs.tolist() == [[1, 2], [3, 4]]


def test_v2_flat_and_nested_data_are_the_same_tensor() -> None:
    flat = read_v2(body({"inputs": [tensor("x", [2, 2], "INT64", [1, 2, 4, 5])]}), JSON, None)
    nested = read_v2(body({"inputs": [tensor("x", [2, 2], "INT64", [[1, 2], [4, 5]])]}), JSON, None)
    assert np.array_equal(flat, nested) and flat.dtype == np.int64


@pytest.mark.parametrize(
    ("datatype", "data", "dtype"),
    [
        ("BOOL", [True, False], np.bool_),
        ("UINT8", [0, 255], np.uint8),
        ("UINT64", [2**64 - 1, 0], np.uint64),
        ("INT8", [-128, 127], np.int8),
        ("INT16", [2.0, -3], np.int16),  # integral numbers written as floats
        ("INT32", [True, 2], np.int32),
        ("INT64", [-(2**63), 2**63 - 1], np.int64),
        ("FP16", [0.5, 65504], np.float16),
        ("FP32", [1, 2.5], np.float32),
        ("FP64", [1e308, False], np.float64),
        ("BYTES", ["a", "日本"], object),
    ],
)
def test_v2_datatypes(datatype: str, data: list, dtype: object) -> None:
    arr = read_v2(body({"inputs": [tensor("x", [2], datatype, data)]}), JSON, None)
    assert arr.dtype == np.dtype(dtype)
    assert arr.tolist() == data or datatype in ("INT32", "FP64")


@pytest.mark.parametrize(
    ("datatype", "data", "words"),
    [
        ("INT8", [1, 128], "INT8 data holds 128, outside INT8's range [-128, 127]"),
        ("UINT16", [-1, 0], "UINT16 data holds -1, outside UINT16's range [0, 65535]"),
        ("INT64", [2**63, 0], "INT64 data holds 9223372036854775808, outside"),
        ("INT32", [1, 2.5], "INT32 data holds 2.5, not an integer"),
        ("FP16", [1, 70000], "FP16 data holds 70000, too large for FP16"),
        ("FP32", [1, "2"], "FP32 data holds a string ('2'); give numbers"),
        ("FP64", [1, None], "FP64 data holds null (None); give numbers"),
        ("INT64", [1, {"a": 1}], "INT64 data holds an object"),
        ("BOOL", [True, 1], "BOOL data holds a number (1); BOOL takes true and false"),
        ("BYTES", ["a", 1], "BYTES data holds a number (1); give strings"),
        ("FP32", [[1, 2], [3]], "'data' is ragged (or nested deeper than 64 levels)"),
    ],
)
def test_v2_refuses_data_that_does_not_fit_its_datatype(
    datatype: str, data: list, words: str
) -> None:
    request = body({"inputs": [tensor("x", [2], datatype, data)]})
    assert words in refused(RequestError, read_v2, request, JSON, None)


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ([], "an inference request is a JSON object, got a list"),
        ({}, "'inputs' must be a non-empty list of tensors, got null"),
        ({"inputs": []}, "'inputs' must be a non-empty list of tensors, got a list"),
        ({"inputs": [1]}, "inputs[0] is a number: each input is an object"),
        ({"inputs": [{"name": "x"}]}, "inputs[0] has no 'shape'"),
        ({"inputs": [tensor("x", [1], "FP32", [1], extra=1)]}, "unknown field 'extra'"),
        ({"inputs": [tensor("", [1], "FP32", [1])]}, "'name' must be a non-empty string"),
        ({"inputs": [tensor("x", [-1], "FP32", [1])]}, "'shape' must be a list of one or more"),
        ({"inputs": [tensor("x", [], "FP32", [1])]}, "'shape' must be a list of one or more"),
        ({"inputs": [tensor("x", [True], "FP32", [1])]}, "'shape' must be a list"),
        ({"inputs": [tensor("x", "1", "FP32", [1])]}, "'shape' must be a list"),
        ({"inputs": [tensor("x", [1], "fp32", [1])]}, "datatype 'fp32' is not one of BOOL,"),
        ({"inputs": [tensor("x", [1], "BF16", [1])]}, "datatype 'BF16' is not one of"),
        ({"inputs": [tensor("x", [1], 32, [1])]}, "'datatype' must be a string"),
        ({"inputs": [tensor("x", [1], "FP32", 1.0)]}, "'data' must be a list of the elements"),
        ({"inputs": [tensor("x", [0, 4], "FP32", [])]}, "no rows: give at least one"),
        ({"inputs": [tensor("x", [2], "FP32", [1, 2, 3])]}, "shape [2] holds 2 elements"),
        (
            {"inputs": [tensor("x", [1], "FP32", [1], parameters={"binary_data_size": 4})]},
            "binary tensor data (Triton's binary extension) is not supported",
        ),
        ({"inputs": [tensor("x", [1], "FP32", [1], parameters=[])]}, "'parameters' must be"),
        ({"inputs": [tensor("x", [1], "FP32", [1])] * 2}, "input 'x' is given twice"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "id": 42}, "'id' must be a string"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "parameters": 1}, "'parameters' must be"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "outputs": {}}, "'outputs' must be a list"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "outputs": [{}]}, "outputs[0] must be"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "model": "m"}, "unknown field 'model'"),
        (
            {"inputs": [tensor("x", [2], "FP32", [1, 2]), tensor("y", [3], "FP32", [1, 2, 3])]},
            "input 'y' has 3 rows and the inputs before it 2",
        ),
        (
            {"inputs": [tensor("x", [1, 2], "FP32", [1, 2]), tensor("y", [1], "FP32", [1])]},
            "input 'x' has shape [1, 2]: named inputs are columns",
        ),
    ],
)
def test_v2_refuses_malformed_requests(request_: object, words: str) -> None:
    assert words in refused(RequestError, read_v2, body(request_), JSON, None)


def test_v2_content_type_and_row_limit() -> None:
    message = refused(UnsupportedMediaTypeError, read_v2, b"", "application/octet-stream", None)
    assert "application/json" in message
    request = body({"inputs": [tensor("x", [3, 1], "FP64", [1, 2, 3])]})
    assert refused(PayloadTooLargeError, read_v2, request, JSON, None, max_rows=2).startswith(
        "3 rows"
    )


def test_v2_named_inputs_become_a_frames_columns() -> None:
    request = {
        "id": "r1",
        "parameters": {"trace": True},
        "inputs": [
            tensor("name", [2], "BYTES", ["x", "y"]),
            tensor("a", [2, 1], "INT64", [[1], [2]]),
            tensor("b", [2], "FP64", [0.5, 1.5]),
        ],
    }
    parsed = read_v2_request(body(request), JSON, FRAME)
    assert isinstance(parsed, V2Request) and parsed.id == "r1"
    assert parsed.parameters == {"trace": True} and parsed.outputs == ()
    frame = conform(FRAME.inputs and FRAME, parsed.inputs)
    assert list(frame.columns) == ["a", "b", "name"]
    assert frame["a"].tolist() == [1, 2] and frame["name"].tolist() == ["x", "y"]
    # without a signature several inputs are a frame too
    assert list(read_v2(body(request), JSON, None).columns) == ["name", "a", "b"]


def test_v2_one_input_is_a_tensor_unless_it_names_a_frame_column() -> None:
    one_column = Signature(FrameSchema((Column("a", "int64"),)))
    named = read_v2(body({"inputs": [tensor("a", [2], "INT64", [1, 2])]}), JSON, one_column)
    assert isinstance(named, pd.DataFrame) and named["a"].tolist() == [1, 2]
    positional = body({"inputs": [tensor("input-0", [1, 3], "FP64", [1, 2.5, 0])]})
    arr = read_v2(positional, JSON, FRAME)
    assert isinstance(arr, np.ndarray) and arr.shape == (1, 3)


def test_v2_a_tensor_model_takes_one_input() -> None:
    request = body({"inputs": [tensor("x", [1], "FP64", [1]), tensor("y", [1], "FP64", [2])]})
    message = refused(RequestError, read_v2, request, JSON, TENSOR)
    assert message.startswith("the model takes one tensor (tensor[float64, (-1, 4)]), got 2")


def test_v2_response_follows_the_specification() -> None:
    outputs = {"output0": np.array([[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]], dtype=np.float32)}
    answer = orjson.loads(write_v2("mymodel", 4, outputs, "42", prediction_id=PID))
    assert answer["id"] == "42" and answer["model_name"] == "mymodel"
    assert answer["model_version"] == "4" and answer["parameters"] == {"prediction_id": PID}
    (output,) = answer["outputs"]
    assert output["name"] == "output0" and output["shape"] == [3, 2]
    assert output["datatype"] == "FP32"
    assert output["data"] == pytest.approx([1.0, 1.1, 2.0, 2.1, 3.0, 3.1])


def test_v2_response_outputs() -> None:
    answer = orjson.loads(write_v2("m", 1, np.array([1, 0]), None, prediction_id=PID))
    assert answer["id"] == PID  # no request id: the prediction id stands for it
    assert answer["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}
    ]
    frame = pd.DataFrame({"label": ["a", "b"], "p": [0.25, 0.75]})
    answer = orjson.loads(write_v2("m", 1, frame, "r", fallback=True))
    assert answer["parameters"] == {"default": True}
    assert answer["outputs"] == [
        {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "p", "shape": [2], "datatype": "FP64", "data": [0.25, 0.75]},
    ]
    series = orjson.loads(write_v2("m", 1, pd.Series([True], name="ok"), "r"))["outputs"]
    assert series == [{"name": "ok", "shape": [1], "datatype": "BOOL", "data": [True]}]
    objects = np.array([1, 2], dtype=object)
    assert orjson.loads(write_v2("m", 1, objects, "r"))["outputs"][0]["datatype"] == "INT64"
    labels = np.array(["x", None, 3], dtype=object)
    assert orjson.loads(write_v2("m", 1, labels, "r"))["outputs"][0]["data"] == ["x", None, "3"]
    listed = orjson.loads(write_v2("m", 1, [[1.5], [2.5]], "r"))["outputs"][0]
    assert listed["shape"] == [2, 1] and listed["datatype"] == "FP64"


def test_v2_requested_outputs() -> None:
    frame = pd.DataFrame({"label": ["a"], "p": [0.5]})
    answer = orjson.loads(write_v2("m", 1, frame, "r", requested=("p",)))
    assert [o["name"] for o in answer["outputs"]] == ["p"]
    with pytest.raises(RequestError, match="output 'q' was asked for; the model gives"):
        write_v2("m", 1, frame, "r", requested=("q",))


def test_v2_an_output_no_datatype_holds_is_the_models_fault() -> None:
    with pytest.raises(PredictError, match="dtype complex128"):
        write_v2("m", 1, np.array([1j]), "r")
    with pytest.raises(PredictError, match="is not a tensor"):
        write_v2("m", 1, [[1, 2], [3]], "r")


def test_v2_metadata() -> None:
    assert v2_metadata("digits", [1, 2], TENSOR) == {
        "name": "digits",
        "versions": ["1", "2"],
        "platform": "cairn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1]}],
    }
    frame = v2_metadata("churn", [3], FRAME)
    assert frame["inputs"] == [
        {"name": "a", "datatype": "INT64", "shape": [-1]},
        {"name": "b", "datatype": "FP64", "shape": [-1]},
        {"name": "name", "datatype": "BYTES", "shape": [-1]},
    ]
    assert frame["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [-1]}]
    bare = v2_metadata("x", [], None)
    assert bare["inputs"] == [] and bare["outputs"] == []


OIP_DTYPES = st.sampled_from(
    ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"]
    + ["float16", "float32", "float64"]
)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), dtype=OIP_DTYPES)
def test_v2_outputs_read_back_as_the_same_tensor(data: st.DataObject, dtype: str) -> None:
    import hypothesis.extra.numpy as hnp

    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    elements = {"allow_nan": False, "allow_infinity": False} if dtype.startswith("f") else None
    arr = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))
    (output,) = orjson.loads(write_v2("m", 1, arr, "r"))["outputs"]
    back = read_v2(body({"inputs": [output]}), JSON, None)
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


# --- MLflow ---------------------------------------------------------------------------------


def test_mlflow_dataframe_split() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "name": ["x", "y"]}, index=[7, 8])
    request = body({"dataframe_split": frame.to_dict(orient="split")})  # what MLflow's client sends
    read = read_mlflow(request, JSON, FRAME)
    pd.testing.assert_frame_equal(read, frame)
    assert conform(FRAME, read)["name"].tolist() == ["x", "y"]
    positional = read_mlflow(body({"dataframe_split": {"data": [[1, 0.5, "x"]]}}), JSON, FRAME)
    assert positional == [[1, 0.5, "x"]]
    assert conform(FRAME, positional)["a"].tolist() == [1]


def test_mlflow_dataframe_records_instances_and_inputs() -> None:
    records = [{"a": 1, "b": 0.5, "name": "x"}]
    assert read_mlflow(body({"dataframe_records": records}), JSON, FRAME) == records
    assert read_mlflow(body({"instances": records}), JSON, FRAME) == records
    assert read_mlflow(body({"instances": [[1, 2, 3, 4]]}), JSON, TENSOR) == [[1, 2, 3, 4]]
    assert read_mlflow(body({"inputs": [[1, 2, 3, 4]]}), None, TENSOR) == [[1, 2, 3, 4]]
    columns = read_mlflow(body({"inputs": {"a": [1, 2], "b": [0.5, 1.5]}}), JSON, FRAME)
    assert columns.to_dict(orient="list") == {"a": [1, 2], "b": [0.5, 1.5]}
    assert read_mlflow(body({"inputs": {"a": 1, "b": 0.5}}), JSON, FRAME) == [{"a": 1, "b": 0.5}]
    named_tensor = body({"inputs": {"x": [[1, 2, 3, 4]]}})
    assert read_mlflow(named_tensor, JSON, TENSOR) == [[1, 2, 3, 4]]


def test_mlflow_params_and_other_fields_are_ignored_as_mlflow_ignores_them() -> None:
    request = body({"inputs": [[1, 2, 3, 4]], "params": {"k": 1}, "extra": True})
    assert read_mlflow(request, JSON, TENSOR) == [[1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ([[1]], "exactly one of the fields dataframe_split, dataframe_records, instances, inputs"),
        ({"rows": [[1]]}, "received the fields ['rows']"),
        ({"inputs": [[1]], "instances": [[1]]}, "received the fields ['inputs', 'instances']"),
        ({"inputs": [[1]], "params": [1]}, "'params' must be an object, got a list"),
        ({"dataframe_split": [[1]]}, "dataframe_split must be an object"),
        ({"dataframe_split": {"columns": ["a"]}}, "must have a 'data' field"),
        ({"dataframe_split": {"data": [], "dtype": {}}}, "must have a 'data' field"),
        ({"dataframe_split": {"data": 1}}, "'data' must be a list of rows, got a number"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "row 0 has 2 values for 1"),
        ({"dataframe_split": {"columns": [1], "data": [[1]]}}, "'columns' must be a list of"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "'a' is given twice"),
        (
            {"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [0, 1]}},
            "'index' must be a list of one label a row",
        ),
        ({"dataframe_split": {"columns": ["a"], "data": []}}, "no rows"),
        ({"dataframe_records": {"a": [1]}}, "dataframe_records must be a list of records"),
        ({"dataframe_records": [{"a": 1}, [1]]}, "dataframe_records: row 1 is a list"),
        ({"dataframe_records": [[1]]}, "dataframe_records: row 0 is a list; every row is an"),
        ({"inputs": [{"a": 1}, None]}, "inputs: row 1 is null; the first row is an object"),
        ({"instances": {"a": 1}}, "instances must be a list"),
        ({"instances": [{"a": 1}, 2]}, "instances: row 1 is a number"),
        ({"inputs": "x"}, "inputs must be a list of rows or an object"),
        ({"inputs": {}}, "inputs is an empty object"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "the length of values for each input/column"),
        ({"inputs": {"a": [1, 2], "b": 1}}, "(a: 2, b: one value)"),
        ({"inputs": []}, "no rows"),
    ],
)
def test_mlflow_refuses_malformed_json(request_: object, words: str) -> None:
    assert words in refused(RequestError, read_mlflow, body(request_), JSON, None)


def test_mlflow_content_types() -> None:
    message = refused(UnsupportedMediaTypeError, read_mlflow, b"", "text/plain", None)
    assert "application/json, text/csv or application/vnd.apache.parquet" in message
    message = refused(
        UnsupportedMediaTypeError, read_mlflow, b"", "application/json; format=pandas-split", None
    )
    assert "unrecognized content type parameters: format. MLflow 2 dropped" in message
    message = refused(
        UnsupportedMediaTypeError, read_mlflow, b"", "text/csv; charset=latin-1", None
    )
    assert "charset 'latin-1'" in message


def test_mlflow_csv() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "name": ["007", "x"]})
    read = read_mlflow(frame.to_csv().encode(), "text/csv", FRAME)  # with pandas' index column
    assert list(read.columns) == ["a", "b", "name"]
    assert read["name"].tolist() == ["007", "x"]  # a text column stays text
    assert conform(FRAME, read)["a"].tolist() == [1, 2]
    untyped = read_mlflow(frame.to_csv(index=False).encode(), "text/csv; charset=utf-8", None)
    assert untyped["name"].tolist() == [7, "x"] or untyped["name"].tolist() == ["007", "x"]
    arr = read_mlflow(b"w,x,y,z\n1,2,3,4\n", "text/csv", TENSOR)
    assert isinstance(arr, np.ndarray) and arr.tolist() == [[1, 2, 3, 4]]
    assert conform(TENSOR, arr).dtype == np.float64


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "failed to read the body as CSV: give a header row"),
        (b'a\n"x', "EOF inside string"),
        (b"a,b\n", "no rows"),
        (b"a\n\xff\n", "the CSV body is not UTF-8"),
    ],
)
def test_mlflow_refuses_bad_csv(raw: bytes, words: str) -> None:
    assert words in refused(RequestError, read_mlflow, raw, "text/csv", None)


def test_mlflow_csv_row_limit() -> None:
    raw = b"a\n" + b"1\n" * 5
    assert refused(PayloadTooLargeError, read_mlflow, raw, "text/csv", None, max_rows=4).startswith(
        "5 rows"
    )


def test_mlflow_parquet() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "name": ["x", "y"]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    parquet = "application/vnd.apache.parquet"
    read = read_mlflow(buffer.getvalue(), parquet, FRAME)
    assert read.to_dict(orient="list") == frame.to_dict(orient="list")
    message = refused(
        PayloadTooLargeError, read_mlflow, buffer.getvalue(), parquet, None, max_rows=1
    )
    assert message.startswith("2 rows")
    assert "failed to read the body as Parquet" in refused(
        RequestError, read_mlflow, b"PAR1 not really", parquet, None
    )


def test_mlflow_writes_predictions_as_mlflow_does() -> None:
    assert orjson.loads(write_mlflow(np.array([1, 2]))) == {"predictions": [1, 2]}
    frame = pd.DataFrame({"label": ["a"], "p": [0.5]})
    assert orjson.loads(write_mlflow(frame)) == {"predictions": [{"label": "a", "p": 0.5}]}
    assert orjson.loads(write_mlflow(pd.Series([3], name="y"))) == {"predictions": [{"y": 3}]}
    assert orjson.loads(write_mlflow(pd.Series([3]))) == {"predictions": [{"0": 3}]}
    assert orjson.loads(write_mlflow([1.5])) == {"predictions": [1.5]}


MLFLOW_TAKES = [  # bodies that MLflow's scoring server and cairn both take
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}},
    {"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [5]}},
    {"dataframe_split": {"columns": ["a"], "data": [1, 2]}},
    {"dataframe_split": {"data": [[1]], "index": [0]}},
    {"dataframe_split": {"data": [1, 2]}},
    {"dataframe_records": [{"a": 1, "b": 2}]},
    {"instances": [[1, 2], [3, 4]]},
    {"instances": [{"a": 1}, {"a": 2}]},
    {"inputs": [[1, 2]]},
    {"inputs": {"a": [1, 2], "b": [3, 4]}},
    {"inputs": [[1, 2]], "params": {"k": 1}},
    {"inputs": [[1, 2]], "unknown": 1},
]
MLFLOW_REFUSES = [  # bodies that both refuse
    [[1, 2]],
    "x",
    {},
    {"rows": [[1]]},
    {"inputs": [[1]], "instances": [[1]]},
    {"dataframe_split": [[1]]},
    {"dataframe_split": {"columns": ["a"]}},
    {"dataframe_split": {"data": [[1]], "extra": 1}},
    {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
    {"dataframe_records": {"a": 1}},
    {"dataframe_records": [{"a": 1}, [1]]},
    {"instances": {"a": 1}},
    {"instances": [{"a": 1}, 2]},
]
CAIRN_REFUSES = [  # bodies MLflow takes and cairn refuses on purpose, each for a reason
    {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},  # which 'a' is the model's?
    {"dataframe_split": {"columns": [1], "data": [[1]]}},  # signatures name columns by strings
    {"inputs": {"a": [1, 2], "b": [3]}},  # a model takes one table, not tensors of any length
    {"inputs": {"a": [1, 2], "b": 1}},
    {"inputs": {}},
    {"inputs": "x"},  # a batch is a list
    {"inputs": []},  # no rows: nothing to predict
    {"inputs": [[1]], "params": [1]},  # params are an object
]


@pytest.mark.parametrize("request_", MLFLOW_TAKES + MLFLOW_REFUSES + CAIRN_REFUSES)
def test_mlflow_takes_and_refuses_what_mlflows_own_server_does(request_: object) -> None:
    server = pytest.importorskip("mlflow.pyfunc.scoring_server")
    from mlflow.exceptions import MlflowException

    try:
        data, _ = server._split_data_and_params(body(request_))
        server.infer_and_parse_data(data)
        mlflow_takes = True
    except MlflowException:
        mlflow_takes = False
    assert mlflow_takes is (request_ not in MLFLOW_REFUSES)
    if request_ in MLFLOW_TAKES:
        read_mlflow(body(request_), JSON, None)
    else:
        refused(RequestError, read_mlflow, body(request_), JSON, None)


# --- rows -----------------------------------------------------------------------------------


def test_rows_of() -> None:
    assert rows_of([[1], [2]]) == 2 and rows_of({"a": 1}) == 1
    assert rows_of(np.zeros((5, 2))) == 5 and rows_of(np.float64(1)) == 1
    assert rows_of(pd.DataFrame({"a": [1, 2, 3]})) == 3


# --- fuzzing: a body is read or refused with a RequestError, nothing else -------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
NAMES = st.sampled_from(["a", "b", "name", "x", "input-0", ""]) | st.text(min_size=1, max_size=3)
NUMBER_ROWS = st.lists(st.lists(st.integers(-3, 3) | st.floats(), max_size=5), max_size=4)
SHAPES = st.lists(st.integers(-1, 4), max_size=3) | JSON_VALUES
DATATYPES = st.sampled_from(["BOOL", "UINT8", "INT8", "INT64", "FP16", "FP32", "FP64", "BYTES"])
TENSORS = st.fixed_dictionaries(
    {"name": NAMES, "shape": SHAPES, "datatype": DATATYPES | JSON_VALUES},
    optional={
        "data": NUMBER_ROWS | st.lists(SCALARS, max_size=6) | JSON_VALUES,
        "parameters": JSON_VALUES,
    },
)
V1_BODIES = st.dictionaries(
    st.sampled_from(["inputs", "id"]),
    NUMBER_ROWS | st.dictionaries(NAMES, SCALARS, max_size=3) | JSON_VALUES,
    max_size=2,
)
ELEMENTS = {
    "BOOL": st.booleans(),
    "BYTES": st.text(max_size=3),
    "FP16": st.floats(width=16) | st.integers(-70_000, 70_000),
    "FP32": st.floats(width=32),
    "FP64": st.floats(allow_nan=False) | st.integers(),
}


@st.composite
def oip_tensors(draw: st.DrawFn) -> dict:
    """Mostly well-formed tensors of any datatype, nested or flat, some with one flaw."""
    datatype = draw(DATATYPES)
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 3, 0]), min_size=1, max_size=3))
    elements = ELEMENTS.get(datatype, st.integers(-300, 300) | st.floats(-300, 300))
    if draw(st.integers(0, 9)) == 0:
        elements = SCALARS
    data = draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))
    if len(shape) > 1 and shape[-1] and draw(st.booleans()):
        data = [data[i : i + shape[-1]] for i in range(0, len(data), shape[-1])]
    item = {"name": draw(NAMES), "shape": shape, "datatype": datatype, "data": data}
    flaw = draw(st.sampled_from([None] * 6 + ["shape", "data", "key", "drop"]))
    if flaw == "shape":
        item["shape"] = draw(SHAPES)
    elif flaw == "data":
        item["data"] = draw(JSON_VALUES)
    elif flaw == "key":
        item[draw(st.sampled_from(["parameters", "x"]))] = draw(JSON_VALUES)
    elif flaw == "drop":
        del item[draw(st.sampled_from(list(item)))]
    return item


V2_BODIES = st.fixed_dictionaries(
    {"inputs": st.lists(oip_tensors(), min_size=1, max_size=3)},
    optional={
        "id": st.text(max_size=3),
        "parameters": st.dictionaries(st.text(max_size=3), SCALARS),
        "outputs": st.lists(st.fixed_dictionaries({"name": NAMES})),
    },
) | st.fixed_dictionaries(
    {"inputs": st.lists(TENSORS, max_size=3) | JSON_VALUES},
    optional={"id": JSON_VALUES, "parameters": JSON_VALUES, "outputs": JSON_VALUES},
)
MLFLOW_BODIES = st.dictionaries(
    st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "params"]),
    st.fixed_dictionaries(
        {"data": NUMBER_ROWS | JSON_VALUES},
        optional={"columns": st.lists(NAMES, max_size=4) | JSON_VALUES, "index": JSON_VALUES},
    )
    | st.lists(st.dictionaries(NAMES, SCALARS, max_size=3), max_size=3)
    | st.dictionaries(NAMES, st.lists(SCALARS, max_size=3) | SCALARS, max_size=3)
    | NUMBER_ROWS
    | JSON_VALUES,
    max_size=2,
)
CONTENT_TYPES = (
    st.sampled_from([None, JSON])
    | st.sampled_from(
        ["application/json; charset=utf-8", "text/csv", "text/plain", "a;b=c;;=", ";"]
    )
    | st.text(max_size=12)
)
SIGNATURES = st.sampled_from([None, TENSOR, FRAME])
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_or_refuse(read, raw: bytes, content_type: str | None, *signature: object) -> object:
    try:
        inputs = read(raw, content_type, *signature, max_rows=5)
    except RequestError as exc:
        assert str(exc), "every refusal says why"
        return None
    assert 1 <= rows_of(inputs) <= 5
    return inputs


def _conformed_or_refused(signature: Signature | None, inputs: object) -> None:
    """What a reader returns goes to `conform` next: it fits, or a CairnError says why."""
    if inputs is None:
        return
    with contextlib.suppress(CairnError):
        conform(signature, inputs)


JSON_TYPES = st.sampled_from([None, JSON, "application/json; charset=utf-8"])


@FUZZ
@given(value=V1_BODIES, content_type=JSON_TYPES, signature=SIGNATURES)
def test_fuzz_v1(value: object, content_type: str | None, signature: Signature | None) -> None:
    _conformed_or_refused(signature, _read_or_refuse(read_v1, body(value), content_type))


@FUZZ
@given(value=V2_BODIES, content_type=JSON_TYPES, signature=SIGNATURES)
def test_fuzz_v2(value: object, content_type: str | None, signature: Signature | None) -> None:
    inputs = _read_or_refuse(read_v2, body(value), content_type, signature)
    _conformed_or_refused(signature, inputs)


@FUZZ
@given(value=MLFLOW_BODIES, content_type=JSON_TYPES, signature=SIGNATURES)
def test_fuzz_mlflow(value: object, content_type: str | None, signature: Signature | None) -> None:
    inputs = _read_or_refuse(read_mlflow, body(value), content_type, signature)
    _conformed_or_refused(signature, inputs)


@FUZZ
@given(value=JSON_VALUES, content_type=CONTENT_TYPES, signature=SIGNATURES)
def test_fuzz_any_json(
    value: object, content_type: str | None, signature: Signature | None
) -> None:
    raw = body(value)
    _read_or_refuse(read_v1, raw, content_type)
    _read_or_refuse(read_v2, raw, content_type, signature)
    _read_or_refuse(read_mlflow, raw, content_type, signature)


@FUZZ
@given(
    raw=st.binary(max_size=64) | st.text(max_size=40).map(str.encode),
    content_type=st.sampled_from([None, "text/csv", "application/vnd.apache.parquet"]),
    signature=SIGNATURES,
)
def test_fuzz_raw_bytes(raw: bytes, content_type: str | None, signature: Signature | None) -> None:
    _read_or_refuse(read_v1, raw, content_type)
    _read_or_refuse(read_v2, raw, content_type, signature)
    inputs = _read_or_refuse(read_mlflow, raw, content_type, signature)
    _conformed_or_refused(signature, inputs)


@FUZZ
@given(
    rows=st.lists(
        st.lists(st.text(max_size=4) | st.integers(-5, 5), min_size=1, max_size=3), max_size=4
    ),
    signature=SIGNATURES,
)
def test_fuzz_csv(rows: list[list[object]], signature: Signature | None) -> None:
    text = "\n".join(",".join(str(v) for v in row) for row in rows)
    inputs = _read_or_refuse(read_mlflow, text.encode(), "text/csv", signature)
    _conformed_or_refused(signature, inputs)
