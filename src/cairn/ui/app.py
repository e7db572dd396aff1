"""The UI's ASGI app: every page module's routes, the store opened in the lifespan, errors
answered by `failures`, and with `auth` every route but liveness and sign-in behind a token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from cairn.errors import CairnError
from cairn.store import Store, get_store
from cairn.ui import (
    compare,
    datasets,
    endpoints,
    experiments,
    lineage,
    login,
    models,
    runs,
    studies,
)
from cairn.ui.access import Access
from cairn.ui.failures import failed
from cairn.ui.web import STATIC

PAGE_MODULES = (experiments, runs, compare, lineage, datasets, studies, models, endpoints, login)


def ui_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for module in PAGE_MODULES:
        routes.extend(module.routes())
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return routes


def create_app(
    store: Store | None = None, *, endpoints: Sequence[str] = (), auth: bool = False
) -> ASGIApp:
    """The UI over `store` (the workspace's by default). `endpoints`: URLs of running
    `cairn serve` servers whose /metrics the endpoints page reads. `auth`: require a token
    (`cairn ui --auth`), checked against the workspace's root public key."""
    routes = ui_routes()
    access: Access | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.store = opened = store or get_store()
        app.state.endpoints = list(endpoints)
        app.state.auth = auth
        if access is not None:
            access.open(opened)
        try:
            yield
        finally:
            if access is not None:
                access.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={CairnError: failed, HTTPException: failed, Exception: failed},
    )
    if not auth:
        return app
    access = Access(app, routes)
    return access
