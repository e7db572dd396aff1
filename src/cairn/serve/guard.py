"""What each route needs of a token, in one table, and the guard that asks the verifier
before a request reaches its route (`cairn serve --auth`).

Every route is either public (liveness, so an orchestrator can tell a hung process from a
live one) or declares its need here; the app refuses to start with a route that does
neither. The needs:

- predict on model/NAME: v1 predict, v2 infer, /invocations (?model=NAME, else the only
  served model) and feedback, whose prediction id came from a predict;
- read on model/NAME: a model's v2 metadata and readiness;
- read on model/*: what concerns every served model (readiness, the list of models, the
  OpenAPI document, which describes their signatures): only a grant on model/* covers it;
- admin on model/*: /metrics, which shows every model's traffic.

A path no route matches needs a token but no right: it answers 404 (405) either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.routing import BaseRoute, Match, Route

from cairn.auth.rights import Operation, ResourceKind
from cairn.auth.verifier import Principal, Verifier
from cairn.errors import AuthError, CairnError, ForbiddenError, OverloadedError
from cairn.serve.bearer import bearer_token
from cairn.serve.denials import Denial, DenialLog
from cairn.states import TextEnum
from cairn.store import Store

EVERY_MODEL = "*"


class Target(TextEnum):
    """Which resource a route acts on."""

    PATH = "path"  # the model the route's {name} names
    INVOKED = "invoked"  # /invocations: ?model=NAME, else the only served model
    FLEET = "fleet"  # every served model


@dataclass(frozen=True)
class Need:
    operation: Operation
    target: Target
    kind: ResourceKind = ResourceKind.MODEL


READ, PREDICT, ADMIN = Operation.READ, Operation.PREDICT, Operation.ADMIN
PUBLIC = frozenset({"/health/live", "/v2/health/live"})
V1_PREDICT = "/v1/models/{name}/predict"  # the hot path, outside Starlette (app.py)
NEEDS: dict[str, Need] = {
    V1_PREDICT: Need(PREDICT, Target.PATH),
    "/v2/models/{name}/infer": Need(PREDICT, Target.PATH),
    "/invocations": Need(PREDICT, Target.INVOKED),
    "/v1/models/{name}/feedback": Need(PREDICT, Target.PATH),
    "/v2/models/{name}": Need(READ, Target.PATH),
    "/v2/models/{name}/ready": Need(READ, Target.PATH),
    "/health/ready": Need(READ, Target.FLEET),
    "/v2/health/ready": Need(READ, Target.FLEET),
    "/v1/models": Need(READ, Target.FLEET),
    "/openapi.json": Need(READ, Target.FLEET),
    "/metrics": Need(ADMIN, Target.FLEET),
}


class UnguardedRouteError(CairnError):
    """A route that is neither public nor in NEEDS: a fault of cairn's, found at start."""


class Guard:
    """Admits a request whose token allows what its route needs; records every refusal.

    Built with the app; `open` (in the lifespan) gives it the verifier and the denial log,
    one of each per app, so decisions are cached across requests."""

    def __init__(
        self,
        routes: Iterable[BaseRoute],
        served: Iterable[str],
        read_token: Callable[[dict], str] = bearer_token,
    ) -> None:
        """`read_token`: where a request's token comes from (the UI also takes a cookie)."""
        self._read_token = read_token
        self._routes: list[tuple[Route, Need | None]] = []
        for route in routes:
            path = getattr(route, "path", repr(route))
            if not isinstance(route, Route) or (path not in PUBLIC and path not in NEEDS):
                raise UnguardedRouteError(
                    f"route {path} declares no need: add it to cairn.serve.guard.NEEDS "
                    "(or PUBLIC, for liveness only)"
                )
            self._routes.append((route, None if path in PUBLIC else NEEDS[path]))
        self._served = tuple(served)
        self._verifier: Verifier | None = None
        self._denials: DenialLog | None = None

    def open(self, store: Store) -> None:
        self._verifier = Verifier(store)
        self._denials = DenialLog(store)

    def close(self) -> None:
        if self._denials is not None:
            self._denials.close()

    def admit(self, scope: dict) -> Principal | None:
        """Check a request for a Starlette route; None for a public one."""
        for route, need in self._routes:
            match, child = route.matches(scope)
            if match is not Match.NONE:
                if need is None:
                    return None
                return self.check(scope, need, self._name(need, scope, child))
        self._read_token(scope)  # no route: a token is still needed to hear so
        return None

    def check(self, scope: dict, need: Need, name: str) -> Principal:
        """The principal the request acts as, if its token allows `need` on `name`; else
        AuthError (401) or ForbiddenError (403), recorded as an audit event."""
        token = None
        try:
            if self._verifier is None:
                raise OverloadedError("the server is still starting", 1.0)
            token = self._read_token(scope)
            return self._verifier.authorize(token, need.operation, need.kind, name)
        except (AuthError, ForbiddenError) as exc:
            if self._denials is not None:
                forbidden = isinstance(exc, ForbiddenError)
                self._denials.record(
                    Denial(token, need.operation, need.kind, name, forbidden, str(exc), time.time())
                )
            raise

    def _name(self, need: Need, scope: dict, child: dict) -> str:
        if need.target is Target.PATH:
            return child["path_params"]["name"]
        if need.target is Target.INVOKED:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            named = query.get("model")
            if named:
                return named[0]
            if len(self._served) == 1:
                return self._served[0]
        return EVERY_MODEL
