"""`cairn import mlflow SOURCE`: an MLflow tracking store copied into the workspace.

Experiments, runs (see `import_runs`), artifacts, dataset inputs and registered models (see
`import_models`), read through MLflow's store classes (`mlflow_source`), which leave the
source as it is. Importing again adds only what is new: a run whose `mlflow.run_id` is in
the store already, with the same status and end, is skipped (tags or metrics added to an
ended MLflow run afterwards are not looked for), a model version whose MLflow number is
recorded on a cairn version likewise. Deleted experiments and runs (MLflow's trash) are not
imported.

What becomes what:

- an experiment: the cairn experiment of the same name (made with MLflow's creation time);
- a run artifact: each file of the run's artifact folder is an artifact of kind `file`
  named by its file name, holding its bytes, its MLflow path (`plots/loss.png`) in the
  artifact's meta, as `cairn.mlflow`'s own `log_artifact` keeps them (`cairn.mlflow.files`),
  so MLflow's artifact API reads them back by path; an MLflow 3 logged model's files
  likewise, under the model's name (`model/MLmodel`), as MLflow 2 kept them;
  A local artifact folder that does not exist means no artifacts: MLflow makes it only when
  a file is logged;
- a dataset input: a dataset version (kind `dataset`) holding MLflow's record of it (name,
  digest, source type, source, schema, profile; MLflow keeps no data), which the run used
  (a lineage edge); the same record used by many runs is one version.

Blobs are stored before the rows that name them, as everywhere in cairn: a crash leaves at
most unreferenced blobs, which `cairn gc` removes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cairn.config import current_user
from cairn.mlflow.files import FILE_KIND, PATH_KEY
from cairn.mlflow.import_models import ModelsReport, import_models
from cairn.mlflow.import_names import Names
from cairn.mlflow.import_runs import (
    DATASET_KIND,
    PARENT_TAG,
    Imported,
    PendingArtifact,
    RunImport,
    ensure_experiments,
    imported_runs,
    is_current,
    write_runs,
)
from cairn.mlflow.mlflow_source import MlflowSource, SourceDataset, SourceRun, open_source
from cairn.states import TextEnum
from cairn.store import Store, get_store

BATCH_RUNS = 250  # runs per transaction: a few commits a second of work, each run whole
BATCH_POINTS = 100_000


class Stage(TextEnum):
    RUNS = "runs"
    MODELS = "models"


Progress = Callable[[Stage, int, int | None], None]  # stage, done, total (None: unknown)


@dataclass
class ImportReport:
    source: str
    experiments: int = 0  # made in cairn
    runs: int = 0  # imported
    refreshed: int = 0  # imported before, changed since, written again
    unchanged: int = 0  # imported before: skipped
    metric_points: int = 0
    artifacts: int = 0
    dataset_inputs: int = 0
    models: ModelsReport = field(default_factory=ModelsReport)
    renamed: dict[str, str] = field(default_factory=dict)  # MLflow name -> cairn name


def import_mlflow(
    source: str | os.PathLike,
    *,
    store: Store | None = None,
    owner: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Copy the MLflow store `source` (an mlruns/ folder, an MLflow SQLite file or database
    URL) into `store`. New registered models are owned by `owner` (default: the current
    user). Returns what was done; NotAnMlflowStore if `source` is not an MLflow store."""
    store = store or get_store()
    opened = open_source(source)
    try:
        with opened.isolated():
            return _Import(opened, store, owner or current_user(), progress).run()
    finally:
        opened.close()


class _Import:
    def __init__(self, source: MlflowSource, store: Store, owner: str, progress: Progress | None):
        self.source = source
        self.store = store
        self.owner = owner
        self.progress = progress or (lambda stage, done, total: None)
        self.names = Names()
        self.report = ImportReport(source.description)
        self.cairn_ids: dict[str, str] = {}  # MLflow run id -> cairn run id
        self._datasets: dict[SourceDataset, PendingArtifact] = {}

    def run(self) -> ImportReport:
        experiments = self.source.experiments()
        with self.store.writer() as conn:
            ids, made = ensure_experiments(
                conn, [(self.names(e.name, "experiment name"), _seconds(e)) for e in experiments]
            )
            imported = imported_runs(conn)
        self.report.experiments = made
        experiment_ids = {e.experiment_id: ids[self.names(e.name)] for e in experiments}
        self.cairn_ids = {mlflow_id: found.run_id for mlflow_id, found in imported.items()}
        logged: dict[str, list] = {}
        for model in self.source.logged_models(list(experiment_ids)):
            logged.setdefault(model.source_run_id or "", []).append(model)
        self._runs(experiment_ids, imported, logged)
        self.report.models = import_models(
            self.source, self.store, self.cairn_ids, self.names, self.owner,
            lambda done, total: self.progress(Stage.MODELS, done, total),
        )  # fmt: skip
        self.report.renamed = dict(self.names.changed)
        return self.report

    def _runs(
        self, experiment_ids: dict[str, int], imported: dict[str, Imported], logged: dict
    ) -> None:
        done, total = 0, self.source.count_runs(list(experiment_ids))
        self.progress(Stage.RUNS, 0, total)
        waiting: dict[str, list[SourceRun]] = {}  # parent's MLflow id -> children seen first
        for page in self.source.run_pages(list(experiment_ids)):
            todo = [r for r in page if not _unchanged(imported.get(r.run_id), r)]
            self.report.unchanged += len(page) - len(todo)
            ready = self._ready(todo, waiting)
            histories = self.source.metric_histories(ready)
            batch = [self._staged(r, experiment_ids, histories, imported, logged) for r in ready]
            for chunk in _chunks(batch):
                self._write(chunk)
            done += len(page)
            self.progress(Stage.RUNS, done, total)
        # Children whose parent was deleted or never came: imported without the link (the
        # `mlflow.parentRunId` tag still names it).
        orphans = _parents_first([run for children in waiting.values() for run in children])
        if orphans:
            histories = self.source.metric_histories(orphans)
            batch = [self._staged(r, experiment_ids, histories, imported, logged) for r in orphans]
            for chunk in _chunks(batch):
                self._write(chunk)
        self.progress(Stage.RUNS, done, done if total is None else total)

    def _ready(self, runs: list[SourceRun], waiting: dict[str, list[SourceRun]]) -> list[SourceRun]:
        """`runs` in an order that writes each parent before its children, plus children held
        back until now; a run whose parent has not come yet waits for it."""
        coming = {run.run_id: run for run in runs}
        ordered: list[SourceRun] = []
        placed: set[str] = set()
        visiting: set[str] = set()  # a parent cycle (a damaged store) must not recurse forever

        def place(run: SourceRun) -> None:
            if run.run_id in placed or run.run_id in visiting:
                return
            parent = run.tags.get(PARENT_TAG)
            if parent and parent not in self.cairn_ids and parent not in placed:
                if parent in coming:
                    visiting.add(run.run_id)
                    place(coming[parent])
                    visiting.discard(run.run_id)
                if parent not in placed:
                    waiting.setdefault(parent, []).append(run)
                    return
            placed.add(run.run_id)
            ordered.append(run)
            for child in waiting.pop(run.run_id, []):
                place(child)

        for run in runs:
            place(run)
        return ordered

    def _staged(
        self,
        run: SourceRun,
        experiment_ids: dict[str, int],
        histories: dict,
        imported: dict[str, Imported],
        logged: dict,
    ) -> RunImport:
        artifacts = self._artifacts(run.artifact_uri)
        for model in logged.get(run.run_id, []):
            artifacts += self._artifacts(
                model.artifact_location, under=model.name, meta={"mlflow_model_id": model.model_id}
            )
        return RunImport(
            run,
            experiment_ids[run.experiment_id],
            histories.get(run.run_id, []),
            artifacts,
            [self._dataset(d) for d in run.datasets],
            imported.get(run.run_id),
        )

    def _artifacts(
        self, uri: str | None, under: str = "", meta: dict | None = None
    ) -> list[PendingArtifact]:
        """Every file under `uri`, stored as a blob, as a pending `file` artifact whose
        path is its path below `uri` (below `under`, if given)."""
        with self.source.files(uri) as folder:
            if folder is None:
                return []
            paths = sorted(p for p in folder.rglob("*") if p.is_file())
            if not paths:
                return []
            digests = self.store.put_values((p.read_bytes() for p in paths), codec="bytes")
            found = []
            for path, digest in zip(paths, digests, strict=True):
                relative = path.relative_to(folder).as_posix()
                where = f"{under}/{relative}" if under else relative
                found.append(
                    PendingArtifact(
                        self.names(path.name, "artifact name"),
                        FILE_KIND,
                        digest,
                        {PATH_KEY: where, **(meta or {})},
                    )
                )
            return found

    def _dataset(self, dataset: SourceDataset) -> PendingArtifact:
        pending = self._datasets.get(dataset)
        if pending is None:
            record = {
                "name": dataset.name,
                "digest": dataset.digest,
                "source_type": dataset.source_type,
                "source": dataset.source,
                "schema": dataset.schema,
                "profile": dataset.profile,
            }
            digest = self.store.put_value(record, codec="json")
            summary = {
                "type": "mlflow dataset",
                "source_type": dataset.source_type,
                "source": dataset.source,
                "digest": dataset.digest,
            }
            meta = {
                "summary": summary,
                "description": f"MLflow's record of a {dataset.source_type} dataset",
            }
            pending = PendingArtifact(
                self.names(dataset.name, "dataset name"), DATASET_KIND, digest, meta
            )
            self._datasets[dataset] = pending
        return pending

    def _write(self, batch: list[RunImport]) -> None:
        with self.store.writer() as conn:
            new_ids, points = write_runs(conn, batch, self.cairn_ids, self.names)
        self.cairn_ids.update(new_ids)  # only once committed
        for item in batch:
            if item.previous is None:
                self.report.runs += 1
            else:
                self.report.refreshed += 1
            self.report.artifacts += len(item.artifacts)
            self.report.dataset_inputs += len(item.datasets)
        self.report.metric_points += points


def _parents_first(runs: list[SourceRun]) -> list[SourceRun]:
    """`runs` with each one's parent (when it is among them) before it."""
    by_id = {run.run_id: run for run in runs}
    ordered: list[SourceRun] = []
    placed: set[str] = set()

    def place(run: SourceRun, path: frozenset[str]) -> None:
        if run.run_id in placed or run.run_id in path:
            return
        parent = by_id.get(run.tags.get(PARENT_TAG, ""))
        if parent is not None:
            place(parent, path | {run.run_id})
        placed.add(run.run_id)
        ordered.append(run)

    for run in runs:
        place(run, frozenset())
    return ordered


def _unchanged(imported: Imported | None, run: SourceRun) -> bool:
    return imported is not None and is_current(imported, run)


def _seconds(experiment: object) -> float:
    created = getattr(experiment, "creation_time", None)
    return created / 1000 if created else 0.0


def _chunks(batch: list[RunImport]) -> Iterator[list[RunImport]]:
    chunk: list[RunImport] = []
    points = 0
    for item in batch:
        chunk.append(item)
        points += len(item.points)
        if len(chunk) >= BATCH_RUNS or points >= BATCH_POINTS:
            yield chunk
            chunk, points = [], 0
    if chunk:
        yield chunk
