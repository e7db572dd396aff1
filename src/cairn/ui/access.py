"""`cairn ui --auth`: what each UI route needs of a token, in one table, and the middleware
that asks serve's guard before a request reaches its route.

A browser cannot add an `Authorization` header to a link it follows, so the UI also takes
the token from a cookie that `/login` sets (HttpOnly, SameSite=Strict: no script reads it,
no other site sends it). Scripts send the header, as to `cairn serve`.

Needs, by what a page shows:
- runs, metrics, artifacts: read on experiment/NAME (the run's experiment, or ?experiment=);
  across experiments (the front page, compare, lineage, studies): read on experiment/*;
- datasets: read on dataset/NAME, the list on dataset/*;
- models: read on model/NAME, the list on model/*; promoting: promote on model/NAME;
- endpoints, which show every served model's traffic: admin on model/*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.auth.rights import Operation, ResourceKind
from cairn.errors import CairnError, NotFoundError
from cairn.serve.bearer import MissingTokenError, bearer_token
from cairn.serve.guard import Guard, Need, Target, UnguardedRouteError
from cairn.states import TextEnum
from cairn.store import Store
from cairn.tracking.query import get_run
from cairn.ui.failures import failure
from cairn.ui.web import PRINCIPAL

COOKIE = "cairn_token"
EVERY = "*"


class Source(TextEnum):
    """Where the name of the resource a route acts on comes from."""

    EVERY = "every"  # all of that kind
    PATH = "path"  # the route's {name}
    QUERY = "query"  # ?experiment=NAME, else every one
    RUN = "run"  # the experiment of the route's {run_id}


@dataclass(frozen=True)
class UiNeed:
    operation: Operation
    kind: ResourceKind
    source: Source = Source.EVERY


READ, PROMOTE, ADMIN = Operation.READ, Operation.PROMOTE, Operation.ADMIN
EXPERIMENT, DATASET, MODEL = ResourceKind.EXPERIMENT, ResourceKind.DATASET, ResourceKind.MODEL
PUBLIC = frozenset({"/health/live", "/login", "/logout", "/static"})
NEEDS: dict[str, UiNeed] = {
    "/": UiNeed(READ, EXPERIMENT),
    "/api/experiments": UiNeed(READ, EXPERIMENT),
    "/runs": UiNeed(READ, EXPERIMENT, Source.QUERY),
    "/api/runs": UiNeed(READ, EXPERIMENT, Source.QUERY),
    "/runs/{run_id}": UiNeed(READ, EXPERIMENT, Source.RUN),
    "/api/runs/{run_id}": UiNeed(READ, EXPERIMENT, Source.RUN),
    "/api/runs/{run_id}/metrics": UiNeed(READ, EXPERIMENT, Source.RUN),
    "/api/runs/{run_id}/metrics/{key:path}": UiNeed(READ, EXPERIMENT, Source.RUN),
    "/api/runs/{run_id}/artifacts/{artifact_id}": UiNeed(READ, EXPERIMENT, Source.RUN),
    "/compare": UiNeed(READ, EXPERIMENT),
    "/api/compare": UiNeed(READ, EXPERIMENT),
    "/api/compare/curves": UiNeed(READ, EXPERIMENT),
    "/api/compare/scatter": UiNeed(READ, EXPERIMENT),
    "/lineage/{ref:path}": UiNeed(READ, EXPERIMENT),
    "/api/lineage/{ref:path}": UiNeed(READ, EXPERIMENT),
    "/datasets": UiNeed(READ, DATASET),
    "/api/datasets": UiNeed(READ, DATASET),
    "/datasets/{name}": UiNeed(READ, DATASET, Source.PATH),
    "/api/datasets/{name}": UiNeed(READ, DATASET, Source.PATH),
    "/api/datasets/{name}/diff": UiNeed(READ, DATASET, Source.PATH),
    "/studies": UiNeed(READ, EXPERIMENT),
    "/api/studies": UiNeed(READ, EXPERIMENT),
    "/studies/{name}": UiNeed(READ, EXPERIMENT),
    "/api/studies/{name}": UiNeed(READ, EXPERIMENT),
    "/models": UiNeed(READ, MODEL),
    "/api/models": UiNeed(READ, MODEL),
    "/models/{name}": UiNeed(READ, MODEL, Source.PATH),
    "/api/models/{name}": UiNeed(READ, MODEL, Source.PATH),
    "/models/{name}/promote": UiNeed(PROMOTE, MODEL, Source.PATH),
    "/api/models/{name}/promote": UiNeed(PROMOTE, MODEL, Source.PATH),
    "/endpoints": UiNeed(ADMIN, MODEL),
    "/api/endpoints": UiNeed(ADMIN, MODEL),
}


def ui_token(scope: dict) -> str:
    """The request's bearer token, else the one the login page left in a cookie."""
    try:
        return bearer_token(scope)
    except MissingTokenError:
        token = cookie(scope, COOKIE)
        if not token:
            raise
        return token


def cookie(scope: dict, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope["headers"]:
        if key == b"cookie":
            jar.load(value.decode("latin-1"))
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class Access:
    """ASGI middleware: admits a request whose token allows what its route needs.

    Built with the app (an unguarded route stops it from being built); `open` and `close`
    run in the lifespan, where the store is."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._routes: list[tuple[BaseRoute, UiNeed | None]] = []
        for route in routes:
            path = getattr(route, "path", repr(route))
            if not isinstance(route, (Route, Mount)) or (path not in PUBLIC and path not in NEEDS):
                raise UnguardedRouteError(
                    f"UI route {path} declares no need: add it to cairn.ui.access.NEEDS "
                    "(or PUBLIC, for what shows no data)"
                )
            self._routes.append((route, NEEDS.get(path)))
        self._guard = Guard([], (), read_token=ui_token)
        self._store: Store | None = None

    def open(self, store: Store) -> None:
        self._store = store
        self._guard.open(store)

    def close(self) -> None:
        self._guard.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self._admit(scope)
            except CairnError as exc:
                await failure(Request(scope), exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _admit(self, scope: Scope) -> None:
        for route, need in self._routes:
            match, child = route.matches(scope)
            if match is not Match.NONE:
                if need is not None:
                    name = self._name(need, scope, child.get("path_params", {}))
                    principal = self._guard.check(
                        scope, Need(need.operation, Target.PATH, need.kind), name
                    )
                    scope.setdefault("state", {})[PRINCIPAL] = principal
                return
        ui_token(scope)  # no route: a token is still needed to hear so

    def _name(self, need: UiNeed, scope: Scope, params: dict) -> str:
        if need.source is Source.PATH:
            return params["name"]
        if need.source is Source.QUERY:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return (query.get("experiment") or [EVERY])[0] or EVERY
        if need.source is Source.RUN and self._store is not None:
            try:
                return get_run(params["run_id"], store=self._store).experiment
            except NotFoundError:
                return EVERY  # an unknown run: only a grant on every experiment hears so
        return EVERY
