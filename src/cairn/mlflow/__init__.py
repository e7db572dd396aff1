"""MLflow's tracking API on cairn: `import cairn.mlflow as mlflow` and MLflow scripts run on a
cairn workspace, with MLflow's names, arguments and return shapes."""

from cairn.mlflow import artifacts, data, entities, models, pyfunc, sklearn
from cairn.mlflow.artifacts import (
    get_artifact_uri,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_text,
)
from cairn.mlflow.autologging import autolog
from cairn.mlflow.experiments import (
    create_experiment,
    get_experiment,
    get_experiment_by_name,
    set_experiment,
)
from cairn.mlflow.export import ExportFormat, export_model
from cairn.mlflow.fluent import (
    flush_async_logging,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
)
from cairn.mlflow.importing import ImportReport, import_mlflow
from cairn.mlflow.inputs import log_input
from cairn.mlflow.models import register_model
from cairn.mlflow.runs import (
    ActiveRun,
    RunActiveError,
    active_run,
    end_run,
    get_run,
    last_active_run,
    start_run,
)
from cairn.mlflow.search import search_runs
from cairn.mlflow.tracking_uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri

__all__ = [
    "ActiveRun",
    "ExportFormat",
    "ImportReport",
    "RunActiveError",
    "active_run",
    "artifacts",
    "autolog",
    "create_experiment",
    "data",
    "end_run",
    "entities",
    "export_model",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "import_mlflow",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "models",
    "pyfunc",
    "register_model",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sklearn",
    "start_run",
]
