"""An MLflow tracking store opened for reading, through MLflow's own store classes.

SOURCE is an `mlruns/` folder (MLflow's file store), an MLflow SQLite file, or a database
URL (`sqlite:///...`, `postgresql://...`, `mysql://...`). Nothing is written to it:

- SQLite is opened read-only (`mode=ro`) and PostgreSQL in read-only transactions (MySQL
  is only read, not held to it), and the step of MLflow's store start-up that adds a
  missing default experiment is skipped;
- the file stores are built without their constructors, which create `.trash/` and
  `models/` when missing and, since MLflow 3, refuse a file store unless
  MLFLOW_ALLOW_FILE_STORE is set (reading one needs no such opt-in);
- while the import reads, MLflow's global tracking URI names no store (`isolated`): some
  of MLflow's reading code builds a default client, which would make ./mlflow.db.

MlflowClient itself is not built: it builds these stores with those constructors. What it
would call is called on the stores instead. Reads are batched, a page of runs at a time: on
a database, each page's params, tags, dataset inputs and whole metric histories are a few
queries over MLflow's own table models (the client's `search_runs` builds an ORM object per
row and `get_metric_history` is a query per run and metric: most of a copy's time); on a file
store, `search_runs` pages and `get_metric_history` per metric, which read a file each.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import sqlalchemy as sa

from cairn.errors import CairnError
from cairn.states import TextEnum

PAGE_RUNS = 1000
# A file store reads every run of the experiments for each page it returns: one page of as
# many as MLflow allows is one read.
FILE_PAGE_RUNS = 50_000
_CHUNK = 500  # ids per IN list: within every database's limit on bound parameters
_SQLITE_HEADER = b"SQLite format 3\x00"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")
_ACTIVE = "active"
# Where MLflow's global tracking URI points while the import reads: no store has this
# scheme, so MLflow code that quietly builds a default MlflowClient fails instead of opening
# (and making) ./mlflow.db. The file registry does, to read a logged model's metrics.
_NOWHERE = "cairn-import-no-default-store:"


class NotAnMlflowStore(CairnError):
    """A SOURCE that is missing, or is not an MLflow tracking store cairn can read."""


class SourceKind(TextEnum):
    FILES = "files"  # an mlruns/ folder
    DATABASE = "database"  # SQLite, PostgreSQL, MySQL through SQLAlchemy


@dataclass(frozen=True)
class SourceDataset:
    """A dataset a run logged as an input (MLflow's `Dataset` and its input's context)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    context: str | None


@dataclass
class SourceRun:
    run_id: str
    experiment_id: str
    name: str
    status: str  # MLflow's: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start_ms: int | None
    end_ms: int | None
    user: str | None
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[SourceDataset] = field(default_factory=list)
    metric_keys: tuple[str, ...] = ()  # known on a file store; a database reads all at once


MetricPoint = tuple[str, int, float | None, int]  # key, step, value (None: NaN), ms


class MlflowSource:
    """One MLflow store, read-only: its experiments, runs, metric histories, artifacts,
    logged models and registry."""

    def __init__(
        self, kind: SourceKind, description: str, tracking: Any, registry: Any, root: Path | None
    ) -> None:
        self.kind = kind
        self.description = description
        self.tracking = tracking
        self.registry = registry
        self._root = root  # the folder relative artifact locations are read from

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Keep MLflow's reading code away from its default store while the block runs."""
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        with _use_tracking_uri(_NOWHERE):
            yield

    def experiments(self) -> list[Any]:
        """The active experiments, as `mlflow.entities.Experiment`s."""
        from mlflow.entities import ViewType

        found, token = [], None
        while True:
            page = self.tracking.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=PAGE_RUNS, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def run_pages(self, experiment_ids: list[str]) -> Iterator[list[SourceRun]]:
        """The active runs of these experiments, oldest first, a page at a time."""
        if not experiment_ids:
            return
        if self.kind is SourceKind.DATABASE:
            yield from _database_run_pages(self.tracking.engine, experiment_ids)
            return
        from mlflow.entities import ViewType

        token = None
        while True:
            page = self.tracking.search_runs(
                experiment_ids, "", ViewType.ACTIVE_ONLY, FILE_PAGE_RUNS,
                ["attributes.start_time ASC"], token,
            )  # fmt: skip
            yield [_from_entity(run) for run in page]
            token = page.token
            if not token:
                return

    def count_runs(self, experiment_ids: list[str]) -> int | None:
        """How many active runs these experiments hold (None on a file store, where
        counting would read every run)."""
        if self.kind is not SourceKind.DATABASE or not experiment_ids:
            return None if experiment_ids else 0
        from mlflow.store.tracking.dbmodels.models import SqlRun

        query = sa.select(sa.func.count()).where(
            SqlRun.experiment_id.in_([int(e) for e in experiment_ids]),
            SqlRun.lifecycle_stage == _ACTIVE,
        )
        with self.tracking.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def metric_histories(self, runs: list[SourceRun]) -> dict[str, list[MetricPoint]]:
        """Every logged value of every metric of these runs, by run id."""
        if self.kind is SourceKind.DATABASE:
            return _database_histories(self.tracking.engine, [r.run_id for r in runs])
        found: dict[str, list[MetricPoint]] = {}
        for run in runs:
            points = found.setdefault(run.run_id, [])
            for key in run.metric_keys:
                for m in self.tracking.get_metric_history(run.run_id, key):
                    value = None if m.value != m.value else float(m.value)  # NaN -> None
                    points.append((m.key, int(m.step), value, int(m.timestamp)))
        return found

    @contextmanager
    def files(self, uri: str | None) -> Iterator[Path | None]:
        """A local folder holding the files under artifact location `uri` (None when there
        is none): the folder itself when it is local, else a download into a temporary
        folder, removed afterwards."""
        if not uri:
            yield None
            return
        local = self._local_path(uri)
        if local is not None:
            yield local if local.is_dir() else None
            return
        from mlflow.artifacts import download_artifacts

        folder = Path(tempfile.mkdtemp(prefix="cairn-mlflow-"))
        try:
            try:
                downloaded = download_artifacts(artifact_uri=uri, dst_path=str(folder))
            except Exception as exc:
                raise CairnError(f"cannot download MLflow artifacts from {uri}: {exc}") from exc
            yield Path(downloaded)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def logged_models(self, experiment_ids: list[str]) -> list[Any]:
        """MLflow 3's logged models of these experiments (none before MLflow 3)."""
        search = getattr(self.tracking, "search_logged_models", None)
        if search is None or not experiment_ids:
            return []
        found, token = [], None
        while True:
            page = search(experiment_ids, max_results=100, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def registered_models(self) -> list[Any]:
        if self.registry is None:
            return []
        return _all_pages(self.registry.search_registered_models)

    def model_versions(self, name: str) -> list[Any]:
        """Every version of registered model `name`, oldest first."""
        quoted = name.replace("'", "\\'")
        found = _all_pages(self.registry.search_model_versions, filter_string=f"name='{quoted}'")
        return sorted(found, key=lambda v: int(v.version))

    def model_location(self, version: Any) -> str:
        """Where a model version's files are: its download URI, with MLflow's own
        `runs:/` and `models:/` references resolved."""
        uri = self.registry.get_model_version_download_uri(version.name, version.version)
        if uri.startswith("runs:/"):
            run_id, _, path = uri[len("runs:/") :].partition("/")
            base = self.tracking.get_run(run_id).info.artifact_uri.rstrip("/")
            return f"{base}/{path}" if path else base
        if uri.startswith("models:/"):
            model_id = uri[len("models:/") :].strip("/")
            return self.tracking.get_logged_model(model_id).artifact_location
        return uri

    def close(self) -> None:
        for store in (self.tracking, self.registry):
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()

    def _local_path(self, uri: str) -> Path | None:
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
        if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive
            return None
        path = Path(uri)
        if not path.is_absolute() and self._root is not None:
            path = self._root / path
        return path


def open_source(source: str | os.PathLike) -> MlflowSource:
    """The MLflow store SOURCE names, opened read-only; NotAnMlflowStore if there is none."""
    if _missing("mlflow"):
        raise CairnError(
            "importing an MLflow store reads it with MLflow's own code: pip install 'cairn[mlflow]'"
        )
    text = os.fspath(source)
    scheme = urlparse(text).scheme.lower()
    if scheme.split("+")[0] in _DATABASE_SCHEMES and scheme.split("+")[0] != "sqlite":
        return _open_database(_read_only_server_url(text), _redacted(text), None)
    if scheme.startswith("sqlite"):
        database = sa.make_url(text).database or ""
        return _open_sqlite(Path(database).expanduser(), text)
    if scheme and scheme != "file" and len(scheme) > 1:
        raise NotAnMlflowStore(
            f"{text}: cairn imports an mlruns/ folder, an MLflow SQLite file or a database "
            f"URL (sqlite:///, postgresql://, mysql://), not a {scheme}: URL"
        )
    path = Path(unquote(urlparse(text).path) if scheme == "file" else text).expanduser()
    if not path.exists():
        raise NotAnMlflowStore(f"{path} does not exist")
    if path.is_dir():
        return _open_folder(path.resolve())
    return _open_sqlite(path, text)


def _open_folder(root: Path) -> MlflowSource:
    if not any((child / "meta.yaml").is_file() for child in root.iterdir() if child.is_dir()):
        hint = ""
        if (root / "mlruns").is_dir():
            hint = f"; did you mean {root / 'mlruns'}?"
        raise NotAnMlflowStore(
            f"{root} is not an MLflow store: no experiment folder (NUMBER/meta.yaml) in it{hint}"
        )
    from mlflow.store.model_registry.abstract_store import AbstractStore as RegistryStore
    from mlflow.store.model_registry.file_store import FileStore as RegistryFileStore
    from mlflow.store.tracking.abstract_store import AbstractStore
    from mlflow.store.tracking.file_store import FileStore
    from mlflow.utils.file_utils import path_to_local_file_uri

    tracking = FileStore.__new__(FileStore)
    AbstractStore.__init__(tracking)
    tracking.root_directory = str(root)
    tracking.artifact_root_uri = path_to_local_file_uri(str(root))
    tracking.trash_folder = str(root / FileStore.TRASH_FOLDER_NAME)
    registry = None
    if (root / RegistryFileStore.MODELS_FOLDER_NAME).is_dir():
        registry = RegistryFileStore.__new__(RegistryFileStore)
        RegistryStore.__init__(registry)
        registry.root_directory = str(root)
    return MlflowSource(SourceKind.FILES, str(root), tracking, registry, root)


def _open_sqlite(path: Path, given: str) -> MlflowSource:
    if not path.exists():
        raise NotAnMlflowStore(f"{path} does not exist")
    with open(path, "rb") as file:
        if file.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise NotAnMlflowStore(f"{path} is neither an mlruns/ folder nor an SQLite database")
    resolved = path.resolve()
    # mode=ro: MLflow's store start-up writes when a default experiment is missing. The driver
    # is named so that MLflow does not take "file:..." for a folder to make (it makes the
    # parent folder of a "sqlite:///PATH").
    url = f"sqlite+pysqlite:///file:{resolved}?mode=ro&uri=true"
    return _open_database(url, given, resolved.parent)


def _read_only_server_url(url: str) -> str:
    parsed = sa.make_url(url)
    name = parsed.drivername
    if name in ("postgresql", "postgres"):
        name = "postgresql+psycopg" if _missing("psycopg2") else "postgresql"
    if name.startswith("postgresql"):
        options = parsed.query.get("options", "")
        options = f"{options} -c default_transaction_read_only=on".strip()
        parsed = parsed.set(drivername=name).update_query_dict({"options": options})
    return parsed.render_as_string(hide_password=False)


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _open_database(url: str, description: str, root: Path | None) -> MlflowSource:
    _check_tables(url, description)
    from mlflow.exceptions import MlflowException
    from mlflow.store.model_registry.sqlalchemy_store import (
        SqlAlchemyStore as RegistrySqlStore,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    class ReadingStore(SqlAlchemyStore):
        def _initialize_store_state(self) -> None:
            """Nothing: MLflow's start-up adds a missing default experiment, which reading
            does without (and a read-only connection refuses)."""

    try:
        # The artifact root is only where new experiments would go: nothing is created.
        tracking = ReadingStore(url, str(root or tempfile.gettempdir()))
        registry = RegistrySqlStore(url)
    except MlflowException as exc:
        raise NotAnMlflowStore(
            f"MLflow cannot read {description}: {exc.message}. If its schema is older than "
            "this MLflow's, upgrade a copy (`mlflow db upgrade URL_OF_THE_COPY`) and import "
            "that: the import leaves its source as it is"
        ) from None
    return MlflowSource(SourceKind.DATABASE, description, tracking, registry, root)


def _check_tables(url: str, description: str) -> None:
    """Refuse a database without MLflow's tables before MLflow's store is built on it
    (it would create them)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
    except (sa.exc.DBAPIError, sqlite3.Error) as exc:
        raise NotAnMlflowStore(f"cannot open {description}: {exc}") from None
    finally:
        engine.dispose()
    missing = {"experiments", "runs", "metrics", "params", "alembic_version"} - names
    if missing:
        raise NotAnMlflowStore(
            f"{description} is not an MLflow tracking database: it has no "
            f"{', '.join(sorted(missing))} table(s)"
        )


def _all_pages(search: Any, **query: object) -> list[Any]:
    found, token = [], None
    while True:
        page = search(max_results=PAGE_RUNS, page_token=token, **query)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _from_entity(run: Any) -> SourceRun:
    info, data = run.info, run.data
    datasets = []
    inputs = getattr(run, "inputs", None)
    for given in getattr(inputs, "dataset_inputs", None) or []:
        d = given.dataset
        context = next((t.value for t in given.tags if t.key == "mlflow.data.context"), None)
        datasets.append(
            SourceDataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile, context)
        )
    return SourceRun(
        info.run_id, str(info.experiment_id), info.run_name or "", info.status, info.start_time,
        info.end_time, info.user_id, info.artifact_uri, dict(data.params), dict(data.tags),
        datasets, tuple(data.metrics),
    )  # fmt: skip


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _database_run_pages(engine: sa.Engine, experiment_ids: list[str]) -> Iterator[list[SourceRun]]:
    from mlflow.store.tracking.dbmodels.models import SqlRun

    columns = (
        SqlRun.run_uuid, SqlRun.experiment_id, SqlRun.name, SqlRun.status, SqlRun.start_time,
        SqlRun.end_time, SqlRun.user_id, SqlRun.artifact_uri,
    )  # fmt: skip
    start = sa.func.coalesce(SqlRun.start_time, 0)
    query = (
        sa.select(*columns)
        .where(
            SqlRun.experiment_id.in_([int(e) for e in experiment_ids]),
            SqlRun.lifecycle_stage == _ACTIVE,
        )
        .order_by(start, SqlRun.run_uuid)
        .limit(PAGE_RUNS)
    )
    after: tuple[int, str] | None = None
    while True:
        page_query = query
        if after is not None:  # keyset paging: no OFFSET rescans
            page_query = query.where(
                sa.or_(start > after[0], sa.and_(start == after[0], SqlRun.run_uuid > after[1]))
            )
        with engine.connect() as conn:
            rows = conn.execute(page_query).all()
            runs = [
                SourceRun(r[0], str(r[1]), r[2] or "", r[3], r[4], r[5], r[6], r[7]) for r in rows
            ]
            _fill_page(conn, {run.run_id: run for run in runs})
        if not runs:
            return
        yield runs
        if len(rows) < PAGE_RUNS:
            return
        after = (rows[-1][4] or 0, rows[-1][0])


def _fill_page(conn: sa.Connection, runs: dict[str, SourceRun]) -> None:
    """Params, tags and dataset inputs of a page of runs, a query each per chunk of ids."""
    from mlflow.store.tracking.dbmodels.models import (
        SqlDataset,
        SqlInput,
        SqlInputTag,
        SqlParam,
        SqlTag,
    )

    for ids in _chunks(list(runs)):
        for run_id, key, value in conn.execute(
            sa.select(SqlParam.run_uuid, SqlParam.key, SqlParam.value).where(
                SqlParam.run_uuid.in_(ids)
            )
        ):
            runs[run_id].params[key] = value
        for run_id, key, value in conn.execute(
            sa.select(SqlTag.run_uuid, SqlTag.key, SqlTag.value).where(SqlTag.run_uuid.in_(ids))
        ):
            runs[run_id].tags[key] = value if value is not None else ""
        context = (
            sa.select(SqlInputTag.value)
            .where(
                SqlInputTag.input_uuid == SqlInput.input_uuid,
                SqlInputTag.name == "mlflow.data.context",
            )
            .limit(1)
            .scalar_subquery()
        )
        inputs = (
            sa.select(
                SqlInput.destination_id,
                SqlDataset.name,
                SqlDataset.digest,
                SqlDataset.dataset_source_type,
                SqlDataset.dataset_source,
                SqlDataset.dataset_schema,
                SqlDataset.dataset_profile,
                context,
            )  # fmt: skip
            .join(SqlDataset, SqlDataset.dataset_uuid == SqlInput.source_id)
            .where(
                SqlInput.destination_type == "RUN",
                SqlInput.source_type == "DATASET",
                SqlInput.destination_id.in_(ids),
            )
            .order_by(SqlInput.destination_id, SqlDataset.name)
        )
        for run_id, *dataset in conn.execute(inputs):
            runs[run_id].datasets.append(SourceDataset(*dataset))


def _database_histories(engine: sa.Engine, run_ids: list[str]) -> dict[str, list[MetricPoint]]:
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    m = SqlMetric
    found: dict[str, list[MetricPoint]] = {run_id: [] for run_id in run_ids}
    with engine.connect() as conn:
        for ids in _chunks(run_ids):
            # No ORDER BY: MLflow's index on run_uuid answers the IN list without a sort, and
            # cairn orders a metric's points by step when it reads them.
            query = sa.select(m.run_uuid, m.key, m.step, m.value, m.is_nan, m.timestamp).where(
                m.run_uuid.in_(ids)
            )
            for run_id, key, step, value, is_nan, ts in conn.execute(query).all():
                found[run_id].append((key, step, None if is_nan else value, ts))
    return found
