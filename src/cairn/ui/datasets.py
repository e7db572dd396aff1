"""The datasets (`/datasets`), one dataset's versions (`/datasets/{name}`) with the diff of
two of them (`?diff=A..B` or `?a=A&b=B`, as `cairn datasets diff` compares them), and their
API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.datasets import DatasetInfo, diff, history, list_datasets
from cairn.errors import RequestError
from cairn.readable import size
from cairn.tracking.artifacts import ArtifactRef
from cairn.ui.web import api, page, query_text, store_of

LATEST = "latest"


def dataset_json(info: DatasetInfo) -> dict:
    return {
        "name": info.name,
        "versions": info.versions,
        "latest": version_json(info.latest),
        "updated": info.latest.created,
    }


def version_json(ref: ArtifactRef) -> dict:
    return {
        "version": ref.version,
        "artifact_id": ref.id,
        "kind": ref.kind,
        "created": ref.created,
        "digest": ref.digest,
        "run_id": ref.run_id,
        "description": ref.meta.get("description"),
        "summary": ref.meta.get("summary", {}),
        "brief": brief(ref.meta.get("summary", {})),
        "lineage": f"/lineage/{ref.node}",
    }


def brief(summary: dict) -> str:
    """A version's summary in a few words: rows and columns, shape and dtype, files and size."""
    kind = summary.get("type")
    if kind == "frame":
        return f"{summary['rows']} rows × {len(summary['columns'])} columns"
    if kind == "array":
        return f"{'×'.join(map(str, summary['shape']))} {summary['dtype']}"
    if kind == "files":
        return f"{summary['files']} file(s), {size(summary['bytes'])}"
    return kind or ""


def diff_versions(request: Request) -> tuple[int | str, int | str] | None:
    """The two versions the query asks to compare, `?diff=A..B` or `?a=A&b=B`; None when
    it asks for none."""
    both = query_text(request, "diff")
    if both is not None:
        a, dots, b = both.partition("..")
        if not dots:
            raise RequestError(f"diff is two versions as A..B (diff=1..2), not {both!r}")
        return _version(a.strip(), "diff"), _version(b.strip(), "diff")
    a, b = query_text(request, "a"), query_text(request, "b")
    if a is None and b is None:
        return None
    if a is None or b is None:
        raise RequestError("a diff needs two versions: give both a and b (a=1&b=2)")
    return _version(a, "a"), _version(b, "b")


def _version(text: str, name: str) -> int | str:
    if text == LATEST:
        return text
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise RequestError(f"{name}: a version is a number from 1, or latest, not {text!r}")
    return int(text)


async def datasets_api(request: Request) -> Response:
    return api({"datasets": [dataset_json(d) for d in list_datasets(store=store_of(request))]})


async def datasets_page(request: Request) -> Response:
    found = list_datasets(store=store_of(request))
    return page(request, "datasets.html", datasets=[dataset_json(d) for d in found])


def dataset_view(request: Request, pair: tuple[int | str, int | str] | None) -> dict:
    """A dataset's versions, oldest first, and the diff of `pair` (or None)."""
    name, store = request.path_params["name"], store_of(request)
    versions = [version_json(v) for v in history(name, store=store)]
    change = diff(name, *pair, store=store) if pair else None
    return {"name": name, "versions": versions, "diff": change}


async def dataset_api(request: Request) -> Response:
    return api(dataset_view(request, diff_versions(request)))


async def dataset_page(request: Request) -> Response:
    pair = diff_versions(request)
    return page(request, "dataset.html", **dataset_view(request, pair), pair=pair, brief=brief)


async def diff_api(request: Request) -> Response:
    name, store = request.path_params["name"], store_of(request)
    pair = diff_versions(request)
    if pair is None:
        raise RequestError("give the two versions to compare: a=1&b=2 (or diff=1..2)")
    return api({"name": name, **diff(name, *pair, store=store)})


def routes() -> list[Route]:
    return [
        Route("/datasets", datasets_page),
        Route("/datasets/{name}", dataset_page),
        Route("/api/datasets", datasets_api),
        Route("/api/datasets/{name}", dataset_api),
        Route("/api/datasets/{name}/diff", diff_api),
    ]
