"""The front page: every experiment with its runs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.tracking.query import list_experiments
from cairn.ui.web import api, page, store_of


async def experiments_api(request: Request) -> Response:
    found = list_experiments(store=store_of(request))
    return api([{"name": e.name, "runs": e.runs, "last_started": e.last_started} for e in found])


async def experiments_page(request: Request) -> Response:
    return page(request, "experiments.html", experiments=list_experiments(store=store_of(request)))


def routes() -> list[Route]:
    return [
        Route("/", experiments_page),
        Route("/api/experiments", experiments_api),
    ]
