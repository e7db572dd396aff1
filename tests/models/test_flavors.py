"""Flavors: detection, and every flavor's payload loading in a fresh process and predicting
exactly what the model predicted before it was saved."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from cairn.errors import FlavorError, SignatureError
from cairn.models import register
from cairn.models.flavors import detect, flavor_named, flavor_names, register_flavor
from cairn.models.loaded import LoadedModel, from_payload
from cairn.models.signature import conform, infer_signature
from tests.models import flavor_models as fm

ROOT = Path(__file__).resolve().parents[2]

# Loads each payload in the manifest, in an interpreter that can import the test suite only if
# PYTHONPATH says so, and pickles back each native model's class and predictions (or the error).
CHILD = """
import pickle, sys, traceback
from cairn.models.loaded import from_payload
with open(sys.argv[1], "rb") as f:
    manifest = pickle.load(f)
results = {}
for name, (flavor, payload, inputs) in manifest.items():
    try:
        model = from_payload(flavor, payload, None)
        native = type(model.native)
        results[name] = (f"{native.__module__}.{native.__qualname__}", model.predict(inputs))
    except Exception:
        results[name] = ("failed", traceback.format_exc())
with open(sys.argv[2], "wb") as f:
    pickle.dump(results, f)
"""


def start_fresh_process(folder: Path, manifest: dict, *, with_tests: bool) -> subprocess.Popen:
    """A new interpreter loading `manifest` (case -> (flavor, payload, inputs)) into
    `folder`/results; it can import the test helpers only if `with_tests`."""
    folder.mkdir()
    (folder / "manifest").write_bytes(pickle.dumps(manifest))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if with_tests:
        env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "manifest", "results"],
        cwd=folder,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Case:
    flavor: str
    build: Callable[[], tuple[object, object]]  # -> (fitted model, inputs)
    loaded_class: str  # the class the fresh process gets back
    example: bool = False  # pass the inputs to save() as the example
    needs_tests: bool = False  # the payload refers to a class of the test helpers
    torch_format: str | None = None


def sklearn_estimator():
    from sklearn.linear_model import LogisticRegression

    X, y = fm.classification_data()
    return LogisticRegression(max_iter=500).fit(X, y), X


def sklearn_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    X, y = fm.classification_data()
    model = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3))
    return model.fit(fm.frame(X), y * 0.5), fm.frame(X)


def xgboost_classifier():
    import xgboost

    X, y = fm.classification_data()
    return xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y), X


def xgboost_booster():
    import xgboost

    X, y = fm.classification_data()
    data = xgboost.DMatrix(fm.frame(X), label=y * 0.5)
    booster = xgboost.train({"max_depth": 2, "nthread": 1}, data, num_boost_round=5)
    return booster, fm.frame(X)


def lightgbm_classifier():
    import lightgbm

    X, y = fm.classification_data()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]  # kept by the wrapper
    model = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1, n_jobs=1)
    return model.fit(fm.frame(X), labels), fm.frame(X)


def lightgbm_booster():
    import lightgbm

    X, y = fm.classification_data()
    params = {"objective": "regression", "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1}
    return lightgbm.train(params, lightgbm.Dataset(X, y * 0.5), num_boost_round=5), X


def torch_small_net():
    X, _ = fm.classification_data()
    return fm.trained_torch(fm.SmallNet(width=6)), X.astype(np.float32)


def torch_summed_heads():
    X, _ = fm.classification_data()
    return fm.trained_torch(fm.SummedHeads(heads=3, scale=0.5)), X.astype(np.float32)


def onnx_graph():
    X, _ = fm.classification_data()
    weights = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    return fm.onnx_affine(weights, np.array([1, 0, -1])), X.astype(np.float32)


def pyfunc_function():
    X, _ = fm.classification_data()
    return fm.doubled_row_sums, X


def pyfunc_object():
    X, _ = fm.classification_data()
    return fm.Thresholder(cut=0.7), X


CASES = {
    "sklearn-estimator": Case(
        "sklearn", sklearn_estimator, "sklearn.linear_model._logistic.LogisticRegression"
    ),
    "sklearn-pipeline": Case("sklearn", sklearn_pipeline, "sklearn.pipeline.Pipeline"),
    "xgboost-classifier": Case("xgboost", xgboost_classifier, "xgboost.sklearn.XGBClassifier"),
    "xgboost-booster": Case("xgboost", xgboost_booster, "xgboost.core.Booster"),
    "lightgbm-classifier": Case(
        "lightgbm", lightgbm_classifier, "lightgbm.sklearn.LGBMClassifier"
    ),
    "lightgbm-booster": Case("lightgbm", lightgbm_booster, "lightgbm.basic.Booster"),
    "torch-scripted": Case(
        "torch", torch_small_net, "torch.jit._script.RecursiveScriptModule",
        torch_format="torchscript",
    ),
    "torch-exported": Case(
        "torch", torch_summed_heads, "torch.fx.graph_module.GraphModule.__new__.<locals>."
        "GraphModuleImpl", example=True, torch_format="torch.export",
    ),
    "torch-state-dict": Case(
        "torch", torch_summed_heads, "tests.models.flavor_models.SummedHeads",
        needs_tests=True, torch_format="state_dict",
    ),
    "onnx": Case("onnx", onnx_graph, "onnxruntime.capi.onnxruntime_inference_collection."
                 "InferenceSession"),
    "pyfunc-function": Case("pyfunc", pyfunc_function, "builtins.function", needs_tests=True),
    "pyfunc-object": Case(
        "pyfunc", pyfunc_object, "tests.models.flavor_models.Thresholder", needs_tests=True
    ),
}  # fmt: skip


@dataclass
class Saved:
    flavor: str
    payload: bytes
    inputs: object
    before: object  # the predictions of the model that was saved


@pytest.fixture(scope="module")
def fresh_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Saved, tuple]]:
    """Every case saved here and loaded in one of two fresh processes (run side by side): one
    that can import the test helpers, for the payloads that refer to them, one that cannot."""
    saved = {}
    for name, case in CASES.items():
        model, inputs = case.build()
        flavor = detect(model)
        payload = flavor.save(model, example=inputs if case.example else None)
        saved[name] = Saved(flavor.name, payload, inputs, flavor.predict(model, inputs))
    root = tmp_path_factory.mktemp("fresh")
    children = {
        with_tests: start_fresh_process(
            root / str(with_tests),
            {
                n: (s.flavor, s.payload, s.inputs)
                for n, s in saved.items()
                if CASES[n].needs_tests == with_tests
            },
            with_tests=with_tests,
        )
        for with_tests in (False, True)
    }
    results = {}
    for with_tests, child in children.items():
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
        results.update(pickle.loads((root / str(with_tests) / "results").read_bytes()))
    return {name: (saved[name], results[name]) for name in CASES}


@pytest.mark.parametrize("case_name", list(CASES))
def test_a_payload_loads_in_a_fresh_process_and_predicts_the_same(
    case_name: str, fresh_results: dict[str, tuple[Saved, tuple]]
) -> None:
    case = CASES[case_name]
    saved, (loaded_class, after) = fresh_results[case_name]
    assert saved.flavor == case.flavor
    assert isinstance(saved.payload, bytes)
    if case.torch_format is not None:
        assert json.loads(saved.payload.partition(b"\n")[0])["format"] == case.torch_format
    assert loaded_class == case.loaded_class, after
    before, after = np.asarray(saved.before), np.asarray(after)
    assert after.shape == before.shape and after.dtype == before.dtype
    if before.dtype.kind == "f":
        np.testing.assert_allclose(after, before, rtol=1e-6)
    else:
        np.testing.assert_array_equal(after, before)
    assert len(np.unique(after)) > 1  # a model that predicts one constant proves little


def test_classifier_wrappers_keep_their_labels(tmp_path: Path) -> None:
    model, inputs = lightgbm_classifier()
    native = flavor_named("lightgbm").load(flavor_named("lightgbm").save(model))
    assert set(native.predict(inputs)) == {"setosa", "versicolor", "virginica"}
    xgb_model, X = xgboost_classifier()
    xgb_native = flavor_named("xgboost").load(flavor_named("xgboost").save(xgb_model))
    np.testing.assert_array_equal(xgb_native.predict_proba(X), xgb_model.predict_proba(X))
    assert xgb_native.get_booster().attr("cairn_class") is None
    assert xgb_model.get_booster().attr("cairn_class") is None  # saving left it unchanged


@pytest.mark.parametrize(
    ("build", "flavor"),
    [
        (lambda: sklearn_estimator()[0], "sklearn"),
        (lambda: sklearn_pipeline()[0], "sklearn"),
        (lambda: __import__("xgboost").XGBRegressor(), "xgboost"),  # also a sklearn estimator
        (lambda: xgboost_booster()[0], "xgboost"),
        (lambda: __import__("lightgbm").LGBMRegressor(), "lightgbm"),
        (lambda: lightgbm_booster()[0], "lightgbm"),
        (lambda: fm.SmallNet(), "torch"),  # callable too
        (lambda: onnx_graph()[0], "onnx"),
        (lambda: fm.doubled_row_sums, "pyfunc"),
        (lambda: lambda x: x, "pyfunc"),
        (lambda: fm.Thresholder(0.0), "pyfunc"),
    ],
)
def test_detection_picks_the_most_specific_flavor(build: Callable, flavor: str) -> None:
    assert detect(build()).name == flavor


@pytest.mark.parametrize("thing", [object(), 42, "a string", fm.Thresholder, None])
def test_what_no_flavor_accepts_is_a_flavor_error_naming_it(thing: object) -> None:
    with pytest.raises(FlavorError, match=r"no flavor can save .*pass flavor= to force one"):
        detect(thing)


def test_the_error_for_a_class_says_to_pass_an_instance() -> None:
    with pytest.raises(FlavorError, match=r"class tests\.models\.flavor_models\.Thresholder"):
        detect(fm.Thresholder)


def test_an_unknown_flavor_name_lists_the_known_ones() -> None:
    with pytest.raises(FlavorError, match=r"unknown flavor 'nope' \(known: lightgbm, onnx, "):
        flavor_named("nope")
    assert {"sklearn", "xgboost", "lightgbm", "torch", "onnx", "pyfunc"} <= set(flavor_names())


class Marker:
    def predict(self, inputs: object) -> str:
        return "native"


class MarkerFlavor:
    name = "test-marker"

    def accepts(self, model: object) -> bool:
        return isinstance(model, Marker)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        return b"marker"

    def load(self, payload: bytes) -> object:
        return Marker()

    def predict(self, model: object, inputs: object) -> object:
        return "through the marker flavor"


def test_a_registered_flavor_is_detected_first_and_loads_by_name() -> None:
    assert detect(Marker()).name == "pyfunc"
    register_flavor(MarkerFlavor())
    assert detect(Marker()).name == "test-marker"
    loaded = from_payload("test-marker", b"marker", None)
    assert loaded.predict([1]) == "through the marker flavor"

    class Replacement(MarkerFlavor):
        def predict(self, model: object, inputs: object) -> object:
            return "replaced"

    register_flavor(Replacement(), first=False)
    assert from_payload("test-marker", b"marker", None).predict([1]) == "replaced"
    assert detect(Marker()).name == "test-marker"  # still before pyfunc


def test_a_flavor_without_the_protocol_is_refused() -> None:
    class Half:
        name = "half"

        def accepts(self, model: object) -> bool:
            return False

    with pytest.raises(FlavorError, match="lacks one of accepts, save, load, predict"):
        register_flavor(Half())  # type: ignore[arg-type]
    with pytest.raises(FlavorError, match="non-empty str `name`"):
        register_flavor(type("Nameless", (MarkerFlavor,), {"name": ""})())


def test_a_torch_module_that_cannot_be_rebuilt_anywhere_is_refused() -> None:
    class Local(fm.SummedHeads):  # not importable, not scriptable, no example
        pass

    with pytest.raises(FlavorError) as caught:
        flavor_named("torch").save(Local(heads=2))
    message = str(caught.value)
    assert "torch.export: needs an example input" in message
    assert "torch.jit.script" in message
    assert "cannot be imported by another process" in message
    assert "flavor='pyfunc'" in message


def test_a_torch_constructor_argument_kept_as_a_non_json_value_is_refused() -> None:
    module = fm.trained_torch(fm.SummedHeads(heads=2))
    module.scale = torch.tensor(2.0)  # type: ignore[assignment]
    with pytest.raises(FlavorError, match=r"constructor argument 'scale' is a Tensor"):
        flavor_named("torch").save(module)


def test_torch_takes_float64_arrays_into_a_float32_module() -> None:
    model, inputs = torch_small_net()
    flavor = flavor_named("torch")
    loaded = flavor.load(flavor.save(model))
    out = flavor.predict(loaded, inputs.astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, flavor.predict(model, inputs), rtol=1e-6)


def test_a_torch_module_is_exported_in_eval_mode_and_left_as_it_was() -> None:
    model = fm.trained_torch(fm.SmallNet())
    model.out = torch.nn.Sequential(model.out, torch.nn.Dropout(0.9))
    model.train()
    X = torch_small_net()[1]
    payload = flavor_named("torch").save(model, example=X[:1])  # one row: export widens it
    assert model.training
    loaded = flavor_named("torch").load(payload)
    first = flavor_named("torch").predict(loaded, X)
    np.testing.assert_array_equal(first, flavor_named("torch").predict(loaded, X))
    assert first.shape == (len(X), 3)


def test_onnx_bytes_are_taken_when_the_flavor_is_forced_and_checked() -> None:
    model, X = onnx_graph()
    onnx_flavor = flavor_named("onnx")
    raw = model.SerializeToString()
    assert not onnx_flavor.accepts(raw)
    assert onnx_flavor.save(raw) == raw
    with pytest.raises(FlavorError, match="not an ONNX model"):
        onnx_flavor.save(b"certainly not protobuf")


def test_onnx_fits_inputs_to_the_graph_input() -> None:
    model, X = onnx_graph()
    flavor = flavor_named("onnx")
    session = flavor.load(flavor.save(model))
    ints = np.array([[1, 2, 3, 4]], dtype=np.int32)
    np.testing.assert_allclose(
        flavor.predict(session, ints), flavor.predict(session, ints.astype(np.float32))
    )
    with pytest.raises(SignatureError, match="dimension 1: expected 4, got 3"):
        flavor.predict(session, np.zeros((2, 3), np.float32))


def test_a_broken_payload_is_a_flavor_error_naming_the_flavor_and_version() -> None:
    with pytest.raises(FlavorError, match=r"cannot load digits/3 \(flavor 'xgboost'\)"):
        from_payload("xgboost", b"\x00garbage", None, name="digits", version=3)
    with pytest.raises(FlavorError, match="not a payload of the torch flavor"):
        from_payload("torch", b"PK\x03\x04", None)


def test_a_loaded_model_conforms_inputs_to_its_signature() -> None:
    model, inputs = sklearn_pipeline()
    flavor = detect(model)
    signature = infer_signature(inputs, flavor.predict(model, inputs))
    loaded = from_payload("sklearn", flavor.save(model), signature, name="iris", version=2)
    assert isinstance(loaded, LoadedModel)
    assert (loaded.name, loaded.version, loaded.flavor.name) == ("iris", 2, "sklearn")
    records = inputs.to_dict("records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(inputs))
    np.testing.assert_array_equal(loaded.predict(records[0]), model.predict(inputs[:1]))
    with pytest.raises(SignatureError, match="missing column 'petal_width'"):
        loaded.predict([{k: v for k, v in records[0].items() if k != "petal_width"}])
    assert repr(loaded) == (
        "LoadedModel('iris', version=2, flavor='sklearn', signature='frame[sepal_length: "
        "float64, sepal_width: float64, petal_length: float64, petal_width: float64] -> "
        "tensor[float64, (-1,)]')"
    )
    assert conform(loaded.signature, inputs) is inputs  # fitting inputs pass untouched


# Loads registered versions by reference, as a server would: the store from the environment,
# and no test helper importable (PYTHONPATH unset).
LOAD_REGISTERED = """
import pickle, sys
from cairn import models
with open(sys.argv[1], "rb") as f:
    inputs = pickle.load(f)
results = {ref: models.load(ref).predict(x) for ref, x in inputs.items()}
with open(sys.argv[2], "wb") as f:
    pickle.dump(results, f)
"""


def test_registered_versions_load_in_a_fresh_process_and_predict_the_same(
    workspace: Path,
) -> None:
    import xgboost
    from sklearn.linear_model import LogisticRegression

    X, y = fm.classification_data()
    net = fm.trained_torch(fm.SmallNet(width=6))
    trained = {
        "sklearn": (LogisticRegression(max_iter=500).fit(X, y), X),
        "xgboost": (xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y), X),
        "torch": (net, X.astype(np.float32)),
    }
    inputs, before = {}, {}
    for name, (model, x) in trained.items():
        version = register(f"iris-{name}", model, owner="alice", example=x[:5])
        assert version.flavor == name
        inputs[str(version)] = x
        before[str(version)] = detect(model).predict(model, x)
    (workspace / "inputs").write_bytes(pickle.dumps(inputs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    child = subprocess.run(
        [sys.executable, "-c", LOAD_REGISTERED, "inputs", "results"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert child.returncode == 0, child.stderr
    after = pickle.loads((workspace / "results").read_bytes())
    assert set(after) == {"iris-sklearn/1", "iris-xgboost/1", "iris-torch/1"}
    for ref, predicted in after.items():
        np.testing.assert_allclose(np.asarray(predicted), np.asarray(before[ref]), rtol=1e-6)
        assert len(np.unique(predicted)) > 1
