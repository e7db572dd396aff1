"""The files a run logged through MLflow's artifact API, kept as cairn artifacts.

Each file is an artifact of kind `file` named by its file name, holding its bytes (codec
`bytes`), with its MLflow path (`plots/loss.png`) in the artifact's meta under `path`.
Logging a path again adds a version; the newest is the file. A model logged with
`log_model` is an artifact of kind `model` holding its flavor's payload, its path in the
meta the same way, so listing and reading a run's artifacts by path covers both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from cairn.errors import NotFoundError
from cairn.mlflow.uris import clean_path
from cairn.models.versions import KIND as MODEL_KIND
from cairn.store import Store
from cairn.tracking.artifact_blobs import StoredArtifact, run_artifacts
from cairn.tracking.artifacts import ArtifactRef, save_artifact
from cairn.tracking.validation import check_name

FILE_KIND = "file"
PATH_KEY = "path"


def save_files(
    store: Store, run_id: str, files: list[tuple[str, bytes | Path]]
) -> list[ArtifactRef]:
    """Store each (MLflow path, bytes or a local file to read) as a file of run `run_id`."""
    paths = [clean_path(path) for path, _ in files]
    names = [check_name(PurePosixPath(p).name, "artifact file name") for p in paths]

    def contents() -> Iterator[bytes]:  # one file in memory at a time
        for _, source in files:
            yield source.read_bytes() if isinstance(source, Path) else source

    digests = store.put_values(contents(), codec="bytes")
    return [
        save_artifact(store, run_id, name, None, FILE_KIND, meta={PATH_KEY: path}, digest=digest)
        for path, name, digest in zip(paths, names, digests, strict=True)
    ]


def run_files(store: Store, run_id: str) -> dict[str, StoredArtifact]:
    """The newest file or model at each path run `run_id` logged, by path."""
    found = {}
    for artifact in run_artifacts(run_id, store=store):  # oldest first: the newest stays
        path = artifact.ref.meta.get(PATH_KEY)
        if path is not None and artifact.ref.kind in (FILE_KIND, MODEL_KIND):
            found[path] = artifact
    return found


def file_at(store: Store, run_id: str, path: str) -> StoredArtifact:
    found = run_files(store, run_id).get(clean_path(path))
    if found is None:
        raise NotFoundError(f"run {run_id} logged no artifact at {path!r}")
    return found


def read_bytes(store: Store, artifact: StoredArtifact) -> bytes:
    return bytes(store.blobs.get(artifact.ref.digest))
