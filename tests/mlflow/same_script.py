"""One tracking script for real MLflow and for cairn.mlflow: the same calls, only the import
differs, so what each store answers can be compared. Run as
`python same_script.py IMPORT TRACKING_URI`; prints what search_runs and get_run gave, as
JSON."""

from __future__ import annotations

import importlib
import json
import sys
import warnings

warnings.filterwarnings("ignore")
mlflow = importlib.import_module(sys.argv[1])
mlflow.set_tracking_uri(sys.argv[2])
mlflow.set_experiment("compare")
with mlflow.start_run(run_name="parent", tags={"team": "vision"}) as parent:
    mlflow.log_params({"alpha": 0.5, "layers": 3, "flag": True, "optimizer": "adam"})
    mlflow.log_param("nothing", None)
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
    mlflow.set_tags({"stage": "dev", "attempt": 2})
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("loss", 0.25)
        mlflow.log_param("alpha", 0.1)
with mlflow.start_run(run_name="other") as other:
    mlflow.log_metric("acc", 0.5)
frame = mlflow.search_runs(experiment_names=["compare"])
ordered = mlflow.search_runs(experiment_names=["compare"], order_by=["metrics.acc DESC"])
filtered = mlflow.search_runs(experiment_names=["compare"], filter_string="metrics.acc > 0.6")
listed = mlflow.search_runs(experiment_names=["compare"], output_format="list")
INFO = ("artifact_uri", "end_time", "experiment_id", "lifecycle_stage", "run_id", "run_name")
INFO += ("start_time", "status", "user_id")
ids = {parent.info.run_id: "parent", child.info.run_id: "child", other.info.run_id: "other"}


def described(run) -> dict:
    return {
        "name": run.info.run_name,
        "status": run.info.status,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": {
            k: (ids.get(v, v) if k == "mlflow.parentRunId" else v) for k, v in run.data.tags.items()
        },
        "info": {k: type(getattr(run.info, k)).__name__ for k in INFO},
    }


print(
    json.dumps(
        {
            "columns": sorted(frame.columns),
            "leading": list(frame.columns[:6]),
            "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
            "order": [ids[r] for r in ordered["run_id"]],
            "filtered": [ids[r] for r in filtered["run_id"]],
            "listed": sorted(ids[r.info.run_id] for r in listed),
            "runs": {ids[r.info.run_id]: described(mlflow.get_run(r.info.run_id)) for r in listed},
        },
        default=str,
    )
)
