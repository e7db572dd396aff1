"""MLflow's artifact and model URIs: `runs:/RUN_ID/PATH` names a file or model a run logged,
`models:/NAME/VERSION`, `models:/NAME@ALIAS` and `models:/NAME/latest` a registered version
(cairn's `NAME/VERSION`, `NAME@ALIAS`, `NAME@latest`)."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.errors import InvalidValueError
from cairn.models.references import LATEST

RUNS = "runs:/"
MODELS = "models:/"


@dataclass(frozen=True)
class RunPath:
    run_id: str
    path: str  # "" for everything the run logged


def is_runs_uri(uri: str) -> bool:
    return isinstance(uri, str) and uri.startswith(RUNS)


def is_models_uri(uri: str) -> bool:
    return isinstance(uri, str) and uri.startswith(MODELS)


def run_path(uri: str) -> RunPath:
    """`runs:/RUN_ID/PATH` split into its run and path."""
    run_id, _, path = uri[len(RUNS) :].strip("/").partition("/")
    if not run_id:
        raise InvalidValueError(f"{uri!r} names no run: write runs:/RUN_ID/PATH")
    return RunPath(run_id, clean_path(path, allow_root=True))


def model_reference(uri: str) -> str:
    """The cairn reference of a `models:/` URI."""
    body = uri[len(MODELS) :].strip("/")
    if "@" in body:
        return body
    name, _, version = body.partition("/")
    if not name or not version or "/" in version:
        raise InvalidValueError(
            f"{uri!r}: write models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest"
        )
    if version.isdigit():
        return f"{name}/{version}"
    if version.lower() == LATEST:
        return f"{name}@{LATEST}"
    raise InvalidValueError(
        f"{uri!r}: cairn has aliases instead of MLflow's stages; write models:/{name}@ALIAS"
    )


def clean_path(path: str | None, *, allow_root: bool = False) -> str:
    """An artifact path as MLflow writes it (`plots/loss.png`), checked: relative, without
    `..`, `/`-separated."""
    parts = [p for p in (path or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidValueError(f"artifact path {path!r} leaves the run's artifacts ('..')")
    if not parts and not allow_root:
        raise InvalidValueError("an artifact needs a file name")
    return "/".join(parts)
