"""The runs table (`/runs`), one run (`/runs/{id}`), and their API: the same search the CLI
does (`cairn runs ls --filter ... --sort ...`), one page at a time, with each shown metric's
last, min and max; a run's params, metrics (each a downsampled series for its chart),
artifacts to download, captured output, children, code and environment.

The handlers are plain functions, which Starlette runs in its thread pool: a slow read then
holds up no other request (a live run's page polls every 2 s)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cairn.codecs.raw import NAME as BYTES_CODEC
from cairn.datasets import files
from cairn.datasets.versions import value_of
from cairn.errors import FilterSyntaxError, NotFoundError, RequestError
from cairn.store import Store
from cairn.tracking.artifact_blobs import StoredArtifact, run_artifact, run_artifacts
from cairn.tracking.query import RunRecord, count_runs, get_run, metric_ranges, search_runs
from cairn.tracking.series import LIMIT, MAX_POINTS, metric_series
from cairn.ui.web import api, page, query_int, query_list, query_text, store_of

PER_PAGE = 50
MAX_PER_PAGE = 500
SHOWN_KEYS = 8  # params and metrics shown by default, when none are chosen
SHOWN_FILES = 100  # files of a file set artifact listed on a run's page
SHOWN_OUTPUT = 100_000  # characters: the end of captured stdout/stderr shown inline
SHOWN_DIFF = 200_000  # characters of the code diff shown inline
LOG_KIND = "log"  # the kind of the artifacts run.capture_output() saves
STREAMS = ("stdout", "stderr")
DOWNLOAD_CHUNK = 1 << 20
BINARY = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"


@dataclass
class RunsPage:
    runs: list[RunRecord]
    ranges: dict[str, dict[str, tuple[float, float]]]
    total: int
    page: int
    per_page: int
    params: list[str]
    metrics: list[str]
    experiment: str | None
    filter: str | None
    order_by: list[str]
    error: str | None = None  # why the query found nothing: a bad filter, shown inline

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def as_json(self) -> dict:
        return {
            "runs": [self.run_json(r) for r in self.runs],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "params": self.params,
            "metrics": self.metrics,
        }

    def run_json(self, run: RunRecord) -> dict:
        ranges = self.ranges.get(run.id, {})
        return {
            **summary_json(run),
            "params": {k: run.params[k] for k in self.params if k in run.params},
            "metrics": {
                k: {"last": run.metrics[k], "min": ranges[k][0], "max": ranges[k][1]}
                for k in self.metrics
                if k in run.metrics and k in ranges
            },
        }


def summary_json(run: RunRecord) -> dict:
    return {
        "id": run.id,
        "name": run.name,
        "experiment": run.experiment,
        "status": run.status.value,
        "started": run.started,
        "ended": run.ended,
        "duration": run.duration,
        "parent_id": run.parent_id,
        "user": run.user,
        "tags": run.tags,
    }


def runs_page(request: Request) -> RunsPage:
    """The page of runs the query asks for: ?experiment=&filter=&order_by=&page=&per_page=
    and the columns, ?params=a,b&metrics=x,y (by default the first few keys the page's runs
    have)."""
    store = store_of(request)
    experiment, filter = query_text(request, "experiment"), query_text(request, "filter")
    order_by = query_list(request, "order_by")
    per_page = query_int(request, "per_page", PER_PAGE, 1, MAX_PER_PAGE)
    number = query_int(request, "page", 1, 1, 10**9)
    found = search_runs(
        experiment,
        filter,
        order_by,
        limit=per_page,
        offset=(number - 1) * per_page,
        store=store,
    )
    total = count_runs(experiment, filter, store=store)
    params = query_list(request, "params") or _keys(r.params for r in found)
    metrics = query_list(request, "metrics") or _keys(r.metrics for r in found)
    ranges = metric_ranges([r.id for r in found], metrics, store=store) if metrics else {}
    return RunsPage(
        found, ranges, total, number, per_page, params, metrics, experiment, filter, order_by
    )


def _keys(dicts) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        seen.update(dict.fromkeys(d))
    return sorted(seen)[:SHOWN_KEYS]


def runs_api(request: Request) -> Response:
    return api(runs_page(request).as_json())


def runs_table(request: Request) -> Response:
    """The table; a query it cannot run (a bad filter, sort or page) is shown above an
    empty table with what was typed kept, as a 400, or a 200 to htmx, which swaps in only
    a success."""
    try:
        return page(request, "runs.html", table=runs_page(request))
    except (FilterSyntaxError, RequestError) as exc:
        table = RunsPage(
            [], {}, 0, 1, PER_PAGE, query_list(request, "params"), query_list(request, "metrics"),
            query_text(request, "experiment"), query_text(request, "filter"),
            query_list(request, "order_by"), str(exc),
        )  # fmt: skip
        status = 200 if request.headers.get("hx-request") == "true" else 400
        return page(request, "runs.html", status, table=table)


def run_json(run: RunRecord, store: Store) -> dict:
    ranges = metric_ranges([run.id], store=store).get(run.id, {})
    children = search_runs(filter=f"attributes.parent_id = '{run.id}'", store=store)
    artifacts = run_artifacts(run.id, store=store)
    return {
        **summary_json(run),
        "host": run.host,
        "command": run.command,
        "error": run.error,
        "params": run.params,
        "metrics": metrics_json(run, ranges),
        "artifacts": [artifact_json(run.id, a, store) for a in artifacts],
        "output": output_json(run.id, artifacts, store),
        "children": [summary_json(c) for c in children],
        "environment": run.environment(),
        "code": run.code(),
    }


def metrics_json(run: RunRecord, ranges: dict[str, tuple[float, float]]) -> dict:
    return {
        k: {"last": v, "min": ranges.get(k, (v, v))[0], "max": ranges.get(k, (v, v))[1]}
        for k, v in sorted(run.metrics.items())
    }


def artifact_json(run_id: str, artifact: StoredArtifact, store: Store) -> dict:
    ref = artifact.ref
    url = f"/api/runs/{run_id}/artifacts/{ref.id}"
    found = {
        "id": ref.id,
        "name": ref.name,
        "version": ref.version,
        "kind": ref.kind,
        "digest": ref.digest,
        "codec": artifact.codec,
        "size": artifact.size,
        "created": ref.created,
        "url": url,
    }
    if ref.kind == files.KIND:
        file_set = value_of(store, ref)
        found["files"] = [
            {"path": path, "size": size, "url": f"{url}?{urlencode({'path': path})}"}
            for path, (_, size) in sorted(file_set.files.items())[:SHOWN_FILES]
        ]
        found["file_count"] = len(file_set.files)
    return found


def output_json(run_id: str, artifacts: list[StoredArtifact], store: Store) -> dict:
    """What the run wrote to stdout and stderr, if it captured them (`run.capture_output()`
    saves each as an artifact of kind `log`): the end of each, and where the whole is."""
    # Oldest first, so of two versions of a stream the later one stays.
    logs = {a.ref.name: a for a in artifacts if a.ref.kind == LOG_KIND and a.ref.name in STREAMS}
    found = {}
    for stream, artifact in sorted(logs.items()):
        text = str(store.get_value(artifact.ref.digest))
        found[stream] = {
            "text": text[-SHOWN_OUTPUT:],
            "truncated": len(text) > SHOWN_OUTPUT,
            "url": f"/api/runs/{run_id}/artifacts/{artifact.ref.id}",
        }
    return found


def run_api(request: Request) -> Response:
    store = store_of(request)
    return api(run_json(get_run(request.path_params["run_id"], store=store), store))


def run_page(request: Request) -> Response:
    store = store_of(request)
    run = get_run(request.path_params["run_id"], store=store)
    return page(request, "run.html", run=run_json(run, store), shown_diff=SHOWN_DIFF)


def metrics_api(request: Request) -> Response:
    """A run's status and its metrics' last, min and max: what a live page polls to learn
    of new metrics and of the run's end."""
    store = store_of(request)
    run = get_run(request.path_params["run_id"], store=store)
    ranges = metric_ranges([run.id], store=store).get(run.id, {})
    return api({"run": run.id, "status": run.status.value, "metrics": metrics_json(run, ranges)})


def metric_api(request: Request) -> Response:
    store = store_of(request)
    run = get_run(request.path_params["run_id"], store=store)
    points = query_int(request, "max_points", MAX_POINTS, 2, LIMIT)
    series = metric_series(run.id, request.path_params["key"], max_points=points, store=store)
    return api({"run": run.id, "status": run.status.value, **series.as_json()})


def artifact_api(request: Request) -> Response:
    """The bytes of one of the run's artifacts as a download: a file set's file (`?path=`, or
    its only file), a captured log as text, any other value as its stored (encoded) blob."""
    store = store_of(request)
    run = get_run(request.path_params["run_id"], store=store)
    number = request.path_params["artifact_id"]
    if not (number.isascii() and number.isdigit()):
        raise NotFoundError(f"no artifact {number!r}: artifacts are numbered")
    artifact = run_artifact(run.id, int(number), store=store)
    ref = artifact.ref
    stem = f"{ref.name}-v{ref.version}"
    if ref.kind == files.KIND:
        path = query_text(request, "path")
        file_set = value_of(store, ref)
        if path is None and len(file_set.files) == 1:
            (path,) = file_set.files
        if path is None:
            raise RequestError(
                f"artifact {ref} holds {len(file_set.files)} files: choose one with ?path="
            )
        if path not in file_set.files:
            raise NotFoundError(f"artifact {ref} holds no file {path!r}")
        digest, _ = file_set.files[path]
        return download(store.blobs.get(digest), PurePosixPath(path).name)
    if ref.kind == LOG_KIND:
        text = str(store.get_value(ref.digest)).encode()
        return download(memoryview(text), f"{stem}.txt", TEXT)
    suffix = "" if artifact.codec == BYTES_CODEC else f".{artifact.codec}"
    return download(store.blobs.get(ref.digest), stem + suffix)


def download(data: memoryview, filename: str, media_type: str = BINARY) -> Response:
    """`data` streamed a chunk at a time (a blob may be a mapped file larger than memory
    should hold twice), saved by the browser as `filename`."""
    view = data.cast("B")

    def chunks() -> Iterator[bytes]:
        for start in range(0, view.nbytes, DOWNLOAD_CHUNK):
            yield bytes(view[start : start + DOWNLOAD_CHUNK])

    plain = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"
    headers = {"content-disposition": disposition, "content-length": str(view.nbytes)}
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/runs", runs_table),
        Route("/runs/{run_id}", run_page),
        Route("/api/runs", runs_api),
        Route("/api/runs/{run_id}", run_api),
        Route("/api/runs/{run_id}/metrics", metrics_api),
        Route("/api/runs/{run_id}/metrics/{key:path}", metric_api),
        Route("/api/runs/{run_id}/artifacts/{artifact_id}", artifact_api),
    ]
