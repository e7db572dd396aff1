"""mlflow.sklearn on cairn: models logged to runs with cairn's sklearn flavor, registered,
loaded back by MLflow URI; and autologging of scikit-learn fits as MLflow records them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import cairn
import cairn.mlflow as mlflow
from cairn.config import current_user
from cairn.errors import FlavorError, InvalidValueError, NotFoundError
from cairn.store.nodes import Relation
from tests.mlflow.side_by_side import run_both

AUTOLOG_SCRIPT = Path(__file__).parent / "autolog_script.py"


@pytest.fixture
def iris() -> tuple[pd.DataFrame, pd.Series]:
    return load_iris(return_X_y=True, as_frame=True)


def test_a_logged_model_loads_back_by_its_run_uri(workspace: Path, iris) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="clf", input_example=X.head(3))
    assert info.model_uri == f"runs:/{run.info.run_id}/clf" == info.model_id
    assert (info.artifact_path, info.run_id, info.flavors) == (
        "clf",
        run.info.run_id,
        {"sklearn": {}},
    )
    assert info.registered_model_version is None
    assert [c.name for c in info.signature.inputs.columns] == list(X.columns)
    loaded = mlflow.sklearn.load_model(info.model_uri)
    assert isinstance(loaded, LogisticRegression)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(pyfunc.predict(X.to_dict("records")), model.predict(X))
    # Loading inside another run is part of that run's lineage.
    with mlflow.start_run() as reader:
        mlflow.sklearn.load_model(info.model_uri)
    graph = cairn.lineage(reader.info.run_id, depth=1)
    (used,) = [dst for _, dst, rel in graph.edges if rel is Relation.USED]
    assert graph.nodes[used].label.startswith("clf")
    assert mlflow.artifacts.list_artifacts(run_id=run.info.run_id)[0].path == "clf"


def test_registered_models_load_by_version_alias_and_latest(workspace: Path, iris) -> None:
    X, y = iris
    first, second = (LogisticRegression(C=c, max_iter=500).fit(X, y) for c in (1.0, 0.1))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(first, "model", registered_model_name="iris")
        mlflow.sklearn.log_model(second, "model", registered_model_name="iris")
    assert info.registered_model_version == 1
    version = cairn.models.get_version("iris/1")
    assert (version.owner, version.run_id, version.flavor) == (
        current_user(),
        run.info.run_id,
        "sklearn",
    )
    cairn.models.set_alias("iris", "champion", 1)
    assert mlflow.sklearn.load_model("models:/iris/1").C == 1.0
    assert mlflow.sklearn.load_model("models:/iris@champion").C == 1.0
    assert mlflow.sklearn.load_model("models:/iris/latest").C == 0.1
    # The newest "model" of the run is the second one logged there.
    assert mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model").C == 0.1
    copied = mlflow.register_model(f"runs:/{run.info.run_id}/model", "iris-copy", tags={"t": "1"})
    assert (copied.name, copied.version, copied.tags) == ("iris-copy", 1, {"t": "1"})
    assert (
        cairn.models.get_version("iris-copy/1").digest == cairn.models.get_version("iris/2").digest
    )
    # An existing model keeps its owner: MLflow has none to give.
    cairn.models.register("owned", LinearRegression().fit(X, y), owner="team-x")
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LinearRegression().fit(X, y * 2), "m", registered_model_name="owned"
        )
    assert cairn.models.get_version("owned/2").owner == "team-x"


def test_signatures_given_mlflow_style_or_inferred(workspace: Path, iris) -> None:
    from mlflow.models import infer_signature as mlflow_infer_signature

    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlflow.start_run():
        real = mlflow.sklearn.log_model(
            model, "a", signature=mlflow_infer_signature(X, model.predict(X))
        )
        ours = mlflow.sklearn.log_model(
            model, "b", signature=mlflow.models.infer_signature(X.values)
        )
        none = mlflow.sklearn.log_model(model, "c")
        tensor = mlflow.sklearn.log_model(
            model, "d", signature=mlflow_infer_signature(X.values, y.values)
        )
    assert [(c.name, c.dtype) for c in real.signature.inputs.columns] == [
        (c, "float64") for c in X.columns
    ]
    assert str(real.signature.outputs) == "tensor[int64, (-1,)]"
    assert str(ours.signature.inputs) == "tensor[float64, (-1, 4)]"
    assert none.signature is None
    assert str(tensor.signature.inputs) == "tensor[float64, (-1, 4)]"
    loaded = mlflow.pyfunc.load_model(real.model_uri)
    with pytest.raises(cairn.SignatureError):
        loaded.predict(X.drop(columns=X.columns[0]))


def test_model_uris_and_options_are_checked(workspace: Path, iris) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model, "model", pip_requirements=["scikit-learn"], serialization_format="cloudpickle"
        )
        mlflow.log_text("not a model", "notes.txt")
        with pytest.raises(InvalidValueError, match="unexpected arguments: colour"):
            mlflow.sklearn.log_model(model, "x", colour="red")
        with pytest.raises(InvalidValueError, match="not both"):
            mlflow.sklearn.log_model(model, "x", name="y")
        with pytest.raises(FlavorError):
            mlflow.models.log_model(object(), "x")
    with pytest.raises(InvalidValueError, match="not a model"):
        mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/notes.txt")
    with pytest.raises(NotFoundError):
        mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/elsewhere")
    with pytest.raises(InvalidValueError, match="aliases"):
        mlflow.sklearn.load_model("models:/iris/Production")
    with pytest.raises(InvalidValueError, match="runs:/"):
        mlflow.sklearn.load_model("/some/local/folder")


def test_autolog_records_a_classifier_fit_in_a_run_of_its_own(workspace: Path, iris) -> None:
    X, y = iris
    mlflow.sklearn.autolog(log_input_examples=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    run = mlflow.last_active_run()
    assert run.info.status == "FINISHED" and run.info.run_name == "LogisticRegression"
    assert set(run.data.metrics) == {
        "training_accuracy_score",
        "training_precision_score",
        "training_recall_score",
        "training_f1_score",
        "training_log_loss",
        "training_roc_auc",
        "training_score",
    }
    assert run.data.metrics["training_score"] == pytest.approx(model.score(X, y))
    assert run.data.params == {k: str(v) for k, v in model.get_params().items()}
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    (logged,) = [a for a in cairn.get_run(run.info.run_id).artifacts() if a.kind == "model"]
    assert [c["name"] for c in logged.meta["signature"]["inputs"]["columns"]] == list(X.columns)


def test_autolog_writes_into_the_active_run_once_per_outer_fit(workspace: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    mlflow.autolog()
    with mlflow.start_run() as run:
        Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]).fit(X, y)
    assert len(cairn.search_runs()) == 1  # the steps fitted quietly, inside the pipeline
    found = mlflow.get_run(run.info.run_id)
    assert found.data.tags["estimator_name"] == "Pipeline"
    assert {"ridge__alpha", "scale__with_mean", "steps"} <= set(found.data.params)
    assert set(found.data.metrics) == {
        "training_mean_squared_error",
        "training_root_mean_squared_error",
        "training_mean_absolute_error",
        "training_r2_score",
        "training_score",
    }
    assert found.data.metrics["training_root_mean_squared_error"] == pytest.approx(
        np.sqrt(found.data.metrics["training_mean_squared_error"])
    )


def test_autolog_records_a_search_and_its_best_estimator(workspace: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    mlflow.sklearn.autolog()
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, y)
    run = mlflow.last_active_run()
    assert run.data.params["best_alpha"] == str(search.best_params_["alpha"])
    assert "estimator" in run.data.params and "alpha" not in run.data.params  # not deep
    assert run.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    paths = [f.path for f in mlflow.artifacts.list_artifacts(run_id=run.info.run_id)]
    assert paths == ["best_estimator", "model"]
    best = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/best_estimator")
    assert best.alpha == search.best_params_["alpha"]


def test_autolog_leaves_a_failing_fit_failing_and_can_be_turned_off(workspace: Path) -> None:
    original, fit_predict = LinearRegression.fit, Pipeline.__dict__["fit_predict"]
    mlflow.sklearn.autolog(registered_model_name="auto")
    assert LinearRegression.fit is not original
    with pytest.raises(ValueError):
        LinearRegression().fit([[1.0], [2.0]], [1.0])  # inconsistent lengths
    failed = mlflow.last_active_run()
    assert failed.info.status == "FAILED"
    assert "ValueError" in cairn.get_run(failed.info.run_id).error
    fitted = LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0])
    assert fitted.coef_ == pytest.approx([1.0])
    assert cairn.models.get_version("auto/1").run_id == mlflow.last_active_run().info.run_id
    # available_if methods keep their condition: this pipeline's last step cannot fit_predict.
    assert not hasattr(Pipeline([("m", LinearRegression())]), "fit_predict")
    mlflow.sklearn.autolog(disable=True)
    assert LinearRegression.fit is original and Pipeline.__dict__["fit_predict"] is fit_predict
    before = len(cairn.search_runs())
    LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0])
    assert len(cairn.search_runs()) == before


@pytest.mark.slow
def test_autolog_records_what_mlflow_records(workspace: Path) -> None:
    """The same fits under real MLflow's autolog and cairn's: the same metrics (names and
    values), params and tags, run by run."""
    theirs, ours = run_both(
        AUTOLOG_SCRIPT,
        workspace / "scripts",
        f"sqlite:///{workspace / 'mlflow.db'}",
        str(workspace / "ws"),
    )
    assert sorted(ours) == [
        "DecisionTreeClassifier",
        "GridSearchCV",
        "LogisticRegression",
        "Pipeline",
        "Ridge",
    ]
    for estimator, recorded in theirs.items():
        assert ours[estimator]["params"] == recorded["params"], estimator
        assert ours[estimator]["tags"] == recorded["tags"], estimator
        assert ours[estimator]["metrics"] == pytest.approx(recorded["metrics"]), estimator
