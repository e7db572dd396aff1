"""MLflow's examples run on cairn with the import changed, and what they logged is in cairn's
store: runs, params, metrics, the model and its registered versions.

MLflow's scikit-learn ElasticNet example (`examples/sklearn_elasticnet_wine/train.py` of
MLflow's repository, which is not copied here) is re-told: the same calls in the same order,
as are the steps of MLflow's tracking and autolog quickstarts. Every script runs
in its own interpreter, reading the wine data through pandas from its URL, answered by a
proxy on 127.0.0.1 (`wine.py`).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

import cairn
from cairn.config import current_user
from tests.mlflow.wine import WINE_URL, proxy_answering, wine_table

# The ElasticNet example's steps, told again: read the CSV from its URL, split with NumPy's
# seed 40, fit ElasticNet(alpha, l1_ratio) from argv, log both params and rmse, r2 and mae,
# and log the model, registered as ElasticnetWineModel unless the store is a file store.
ELASTICNET_STEPS = f"""
import sys
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import cairn.mlflow as mlflow
import cairn.mlflow.sklearn

np.random.seed(40)
wines = pd.read_csv("{WINE_URL}", sep=";")
train, test = train_test_split(wines)
alpha, l1_ratio = (float(a) for a in (sys.argv[1:] + ["0.5", "0.5"])[:2])
with mlflow.start_run():
    model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
    model.fit(train.drop(["quality"], axis=1), train[["quality"]])
    guessed = model.predict(test.drop(["quality"], axis=1))
    truth = test[["quality"]]
    mlflow.log_param("alpha", alpha)
    mlflow.log_param("l1_ratio", l1_ratio)
    mlflow.log_metric("rmse", np.sqrt(mean_squared_error(truth, guessed)))
    mlflow.log_metric("r2", r2_score(truth, guessed))
    mlflow.log_metric("mae", mean_absolute_error(truth, guessed))
    if urlparse(mlflow.get_tracking_uri()).scheme == "file":
        mlflow.sklearn.log_model(model, "model")
    else:
        mlflow.sklearn.log_model(model, "model", registered_model_name="ElasticnetWineModel")
"""

# MLflow's tracking quickstart: iris, logistic regression, params and accuracy, a tag, a
# signature, the model logged with an input example and registered, then loaded back as a
# pyfunc to predict the test set.
TRACKING_QUICKSTART = """
import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

import cairn.mlflow as mlflow
from cairn.mlflow.models import infer_signature

X, y = datasets.load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
params = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}
lr = LogisticRegression(**params)
lr.fit(X_train, y_train)
y_pred = lr.predict(X_test)
accuracy = accuracy_score(y_test, y_pred)

mlflow.set_experiment("MLflow Quickstart")
with mlflow.start_run():
    mlflow.log_params(params)
    mlflow.log_metric("accuracy", accuracy)
    mlflow.set_tag("Training Info", "Basic LR model for iris data")
    signature = infer_signature(X_train, lr.predict(X_train))
    model_info = mlflow.sklearn.log_model(
        sk_model=lr,
        name="iris_model",
        signature=signature,
        input_example=X_train,
        registered_model_name="tracking-quickstart",
    )

loaded = mlflow.pyfunc.load_model(model_info.model_uri)
predictions = loaded.predict(X_test)
names = ["sepal length", "sepal width", "petal length", "petal width"]
result = pd.DataFrame(X_test, columns=names)
result["actual_class"] = y_test
result["predicted_class"] = predictions
assert (result["predicted_class"] == y_pred).all()
print(model_info.model_uri)
"""

# MLflow's autolog quickstart: autolog on, a random forest fitted on the diabetes data with
# no run open, the run autolog made read back with last_active_run.
AUTOLOG_QUICKSTART = """
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import train_test_split

import cairn.mlflow as mlflow

mlflow.autolog()
db = load_diabetes()
X_train, X_test, y_train, y_test = train_test_split(db.data, db.target, random_state=0)
rf = RandomForestRegressor(n_estimators=20, max_depth=6, max_features=3, random_state=0)
rf.fit(X_train, y_train)
predictions = rf.predict(X_test)
autolog_run = mlflow.last_active_run()
print(autolog_run.info.run_id)
"""


def run_script(path: Path, *args: str) -> str:
    """Run a script in a fresh interpreter, the wine CSV served at its URL through a proxy;
    returns what it printed."""
    body = wine_table().to_csv(sep=";", index=False).encode()
    with proxy_answering(WINE_URL, body) as (proxy, asked):
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
        env.update(http_proxy=proxy, HTTP_PROXY=proxy)
        done = subprocess.run(
            [sys.executable, str(path), *args],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert set(asked) <= {WINE_URL}, asked
    return done.stdout


def check_elasticnet_runs(versions: list[tuple[float, float]]) -> None:
    """One finished run per (alpha, l1_ratio), its metrics those of the model it logged and
    registered as the next version of ElasticnetWineModel."""
    runs = cairn.search_runs(order_by="attributes.started asc")
    assert [(r.params["alpha"], r.params["l1_ratio"]) for r in runs] == versions
    wines = wine_table()
    np.random.seed(40)
    _, test = train_test_split(wines)
    for number, run in enumerate(runs, start=1):
        assert run.status == "finished" and run.experiment == "default"
        assert set(run.metrics) == {"rmse", "r2", "mae"}
        version = cairn.models.get_version(f"ElasticnetWineModel/{number}")
        assert version.run_id == run.id and version.flavor == "sklearn"
        assert version.owner == current_user()
        model = cairn.models.load(version).native
        assert (model.alpha, model.l1_ratio) == (run.params["alpha"], run.params["l1_ratio"])
        guessed = model.predict(test.drop(["quality"], axis=1))
        rmse = math.sqrt(mean_squared_error(test[["quality"]], guessed))
        assert run.metrics["rmse"] == pytest.approx(rmse)
        # The run made two model artifacts: the one logged at "model", and the registered
        # version, the same bytes.
        logged, registered = [a for a in run.artifacts() if a.kind == "model"]
        assert logged.meta["path"] == "model" and logged.meta["flavor"] == "sklearn"
        assert registered.id == version.artifact_id
        assert logged.digest == registered.digest


def test_elasticnet_example_steps(workspace: Path) -> None:
    script = workspace / "elasticnet.py"
    script.write_text(ELASTICNET_STEPS)
    run_script(script)
    run_script(script, "0.1", "0.9")
    check_elasticnet_runs([(0.5, 0.5), (0.1, 0.9)])


def test_tracking_quickstart(workspace: Path) -> None:
    script = workspace / "quickstart.py"
    script.write_text(TRACKING_QUICKSTART)
    model_uri = run_script(script).strip()
    (run,) = cairn.search_runs(experiment="MLflow Quickstart")
    assert model_uri == f"runs:/{run.id}/iris_model"
    assert run.params == {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}
    assert 0.9 <= run.metrics["accuracy"] <= 1.0
    assert run.tags["Training Info"] == "Basic LR model for iris data"
    version = cairn.models.get_version("tracking-quickstart/1")
    assert version.run_id == run.id
    assert version.signature["inputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1, 4]}
    logged = [a for a in run.artifacts() if a.meta.get("path") == "iris_model"]
    assert logged[0].meta["signature"]["inputs"]["shape"] == [-1, 4]


def test_autolog_quickstart(workspace: Path) -> None:
    script = workspace / "autolog.py"
    script.write_text(AUTOLOG_QUICKSTART)
    run_id = run_script(script).strip()
    run = cairn.get_run(run_id)
    assert run.status == "finished" and run.name == "RandomForestRegressor"
    assert run.params["n_estimators"] == 20 and run.params["max_depth"] == 6
    assert {
        "training_mean_squared_error",
        "training_root_mean_squared_error",
        "training_mean_absolute_error",
        "training_r2_score",
        "training_score",
    } == set(run.metrics)
    assert run.tags["estimator_class"] == "sklearn.ensemble._forest.RandomForestRegressor"
    assert run.tags["mlflow.autologging"] == "sklearn"
    assert [a.meta.get("path") for a in run.artifacts()] == ["model"]
