"""A run's artifact files through MLflow's API: `log_artifact(s)`, `log_text`, `log_dict`,
`log_figure` write them; `list_artifacts`, `download_artifacts`, `load_text` and
`load_dict` (MLflow's `mlflow.artifacts`) read them back by `runs:/RUN_ID/PATH`. How they
are stored: `cairn.mlflow.files`."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path, PurePosixPath

import yaml

from cairn.atomic import write_atomically
from cairn.errors import InvalidValueError, NotFoundError, RunEndedError
from cairn.mlflow.entities import FileInfo
from cairn.mlflow.files import file_at, read_bytes, run_files, save_files
from cairn.mlflow.runs import run_to_log
from cairn.mlflow.uris import RunPath, clean_path, is_runs_uri, run_path
from cairn.mlflow.views import artifact_uri
from cairn.states import RunStatus
from cairn.store import get_store
from cairn.tracking import active, query

_YAML = (".yaml", ".yml")


def log_artifact(
    local_path: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log a file (or a folder, with everything in it) under `artifact_path`."""
    source = Path(local_path)
    if source.is_dir():
        _save(_folder(source, _join(artifact_path, source.name)), run_id)
    elif source.is_file():
        _save([(_join(artifact_path, source.name), source)], run_id)
    else:
        raise NotFoundError(f"{source} is not a file or a folder")


def log_artifacts(
    local_dir: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log every file under `local_dir`, at its path relative to it, under `artifact_path`."""
    folder = Path(local_dir)
    if not folder.is_dir():
        raise NotFoundError(f"{folder} is not a folder")
    _save(_folder(folder, artifact_path), run_id)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _save([(artifact_file, text.encode())], run_id)


def log_dict(dictionary: dict, artifact_file: str, run_id: str | None = None) -> None:
    """Log `dictionary` as JSON, or as YAML when `artifact_file` ends in .yaml or .yml."""
    if artifact_file.lower().endswith(_YAML):
        text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False)
    else:
        text = json.dumps(dictionary, indent=2)
    log_text(text, artifact_file, run_id)


def log_figure(figure: object, artifact_file: str, *, save_kwargs: dict | None = None) -> None:
    """Log a matplotlib figure (any format it saves, PNG by default) or a plotly figure
    (HTML, or an image format if kaleido is installed)."""
    suffix = PurePosixPath(artifact_file).suffix.lstrip(".").lower()
    options = save_kwargs or {}
    if callable(getattr(figure, "savefig", None)):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix or "png", **options)
        data = buffer.getvalue()
    elif callable(getattr(figure, "to_html", None)):
        data = (
            figure.to_html(**options).encode()
            if suffix in ("", "html")
            else figure.to_image(format=suffix, **options)
        )
    else:
        raise InvalidValueError(
            f"log_figure takes a matplotlib or plotly figure, not a {type(figure).__qualname__}"
        )
    _save([(artifact_file, data)], None)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """`runs:/RUN_ID[/PATH]` of the active run, which cairn.mlflow's readers take."""
    run = active.current()
    if run is None:
        raise NotFoundError("no active run: start one with start_run()")
    path = clean_path(artifact_path, allow_root=True)
    return artifact_uri(run.id) + (f"/{path}" if path else "")


def list_artifacts(
    artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None
) -> list[FileInfo]:
    """The files and folders directly under a path of a run's artifacts."""
    where = _location(artifact_uri, run_id, artifact_path)
    prefix = f"{where.path}/" if where.path else ""
    entries: dict[str, FileInfo] = {}
    for path, artifact in run_files(get_store(), where.run_id).items():
        if not path.startswith(prefix):
            continue
        head, _, rest = path[len(prefix) :].partition("/")
        if rest:
            entries.setdefault(head, FileInfo(prefix + head, True, None))
        else:
            entries[head] = FileInfo(path, False, artifact.size)
    return [entries[k] for k in sorted(entries)]


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | os.PathLike | None = None,
) -> str:
    """Write a run's file, or every file under a path, to `dst_path` (a new temporary
    folder by default); returns the local path of what was asked for. A logged model is
    written as its flavor's payload."""
    where = _location(artifact_uri, run_id, artifact_path)
    store = get_store()
    files = run_files(store, where.run_id)
    prefix = f"{where.path}/" if where.path else ""
    chosen = {p: a for p, a in files.items() if p == where.path or p.startswith(prefix)}
    if not chosen:
        raise NotFoundError(f"run {where.run_id} logged no artifact at {where.path!r}")
    dest = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="cairn-"))
    for path, artifact in chosen.items():
        target = dest.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, read_bytes(store, artifact))
    return str(dest.joinpath(*where.path.split("/")) if where.path else dest)


def load_text(artifact_uri: str) -> str:
    where = _location(artifact_uri, None, None)
    store = get_store()
    return read_bytes(store, file_at(store, where.run_id, where.path)).decode()


def load_dict(artifact_uri: str) -> dict:
    text = load_text(artifact_uri)
    return yaml.safe_load(text) if artifact_uri.lower().endswith(_YAML) else json.loads(text)


def _location(artifact_uri: str | None, run_id: str | None, artifact_path: str | None) -> RunPath:
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidValueError("give artifact_uri, or run_id and artifact_path, not both")
        if not is_runs_uri(artifact_uri):
            raise InvalidValueError(
                f"{artifact_uri!r}: cairn.mlflow reads a run's artifacts by runs:/RUN_ID/PATH"
            )
        where = run_path(artifact_uri)
    elif run_id is None:
        raise InvalidValueError("give artifact_uri (runs:/RUN_ID/PATH) or run_id")
    else:
        where = RunPath(run_id, clean_path(artifact_path, allow_root=True))
    # The run's whole id, as cairn's readers take a prefix or another case of it.
    return RunPath(query.get_run(where.run_id, store=get_store()).id, where.path)


def _join(prefix: str | None, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _folder(folder: Path, prefix: str | None) -> list[tuple[str, Path]]:
    return [
        (_join(prefix, file.relative_to(folder).as_posix()), file)
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    ]


def _save(files: list[tuple[str, bytes | Path]], run_id: str | None) -> None:
    run = run_to_log(run_id)
    if run.status is not RunStatus.RUNNING:
        raise RunEndedError(f"run {run.id} has ended ({run.status}); start a new run to log")
    if files:
        save_files(run.store, run.id, files)
