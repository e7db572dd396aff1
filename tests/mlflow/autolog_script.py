"""One autologging script for real MLflow and for cairn.mlflow: scikit-learn fits with
autologging on, only the import differing. Run as
`python autolog_script.py IMPORT TRACKING_URI`; prints, as JSON, what each fit's run
recorded: metrics, params and its own tags (not MLflow's `mlflow.*` system tags)."""

from __future__ import annotations

import importlib
import json
import sys
import warnings

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

warnings.filterwarnings("ignore")
mlflow = importlib.import_module(sys.argv[1])
mlflow.set_tracking_uri(sys.argv[2])
mlflow.set_experiment("autolog")
mlflow.sklearn.autolog(log_models=False)  # MLflow packs each model for minutes

iris, cancer, diabetes = (
    f(return_X_y=True) for f in (load_iris, load_breast_cancer, load_diabetes)
)
LogisticRegression(max_iter=1000).fit(*iris)
DecisionTreeClassifier(max_depth=3, random_state=0).fit(*cancer)
Ridge(alpha=0.5).fit(*diabetes)
Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(*iris)
GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(*diabetes)

found = {}
for run in mlflow.search_runs(experiment_names=["autolog"], output_format="list"):
    if run.data.tags.get("mlflow.parentRunId"):
        continue  # MLflow's child run per search candidate, which cairn does not make
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    found[tags["estimator_name"]] = {
        "status": run.info.status,
        "metrics": run.data.metrics,
        "params": run.data.params,
        "tags": tags,
    }
print(json.dumps(found, sort_keys=True))
