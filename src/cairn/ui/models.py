"""The models (`/models`), one model (`/models/{name}`) and their API: versions, aliases and
every move of them, the owner, the gates and what they said, the audit events. The one
write of the UI is here: promoting a version (`POST /models/{name}/promote`, and the same
under /api/), which calls what `cairn models promote` calls, so the alias's gates run.

A write must come from the UI's own pages: a browser says where a request comes from
(Sec-Fetch-Site, Origin), and a cross-site one is refused, so another site cannot make a
visitor's browser move an alias. A request without either header is not a browser's
(a script, curl) and is let through.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.config import acting_as
from cairn.errors import (
    CairnError,
    GateRefusedError,
    RequestError,
)
from cairn.models import (
    AliasMove,
    ModelInfo,
    ModelVersion,
    alias_history,
    get_model,
    history,
    list_gates,
    list_models,
    list_versions,
    set_alias,
)
from cairn.models.audit import Action
from cairn.serve.statuses import status_of
from cairn.store import Store
from cairn.store.events import Event
from cairn.ui.web import acting_subject, api, check_same_origin, form_fields, page, store_of

PROMOTE_FIELDS = ("alias", "version", "force", "reason")
DIGEST = re.compile(r"[0-9a-f]{64}")
FORM_BOOLEANS = {"on": True, "true": True, "": False, "false": False}  # a checkbox's values


def info_json(info: ModelInfo) -> dict:
    return {
        "name": info.name,
        "owner": info.owner,
        "description": info.description,
        "created": info.created,
        "updated": info.updated,
        "versions": info.versions,
        "latest": info.latest,
        "aliases": info.aliases,
        "tags": info.tags,
    }


def version_json(v: ModelVersion) -> dict:
    return {
        "version": v.version,
        "flavor": v.flavor,
        "owner": v.owner,
        "description": v.description,
        "run_id": v.run_id,
        "created": v.created,
        "archived": v.archived,
        "digest": v.digest,
        "aliases": list(v.aliases),
        "tags": v.tags,
        "node": v.node,
    }


def move_json(move: AliasMove) -> dict:
    return {
        "id": move.id,
        "alias": move.alias,
        "previous": move.previous,
        "version": move.version,
        "actor": move.actor,
        "ts": move.ts,
        "reason": move.reason,
        "overridden": list(move.overridden),
        "results": [r.to_json() for r in move.results],
    }


def event_json(event: Event) -> dict:
    return {
        "id": event.id,
        "ts": event.ts,
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "detail": event.detail,
    }


def gate_run_json(event: Event) -> dict:
    """A `gate.run` event as one gate's result: which version, for which alias, and why."""
    result = event.detail.get("result", {})
    return {
        "event": event.id,
        "ts": event.ts,
        "actor": event.actor,
        "version": int(event.subject.rsplit("/", 1)[1]),
        "alias": event.detail.get("alias"),
        "gate": result.get("gate"),
        "passed": bool(result.get("passed")),
        "reason": result.get("reason"),
        "value": result.get("value"),
        "abandoned": event.detail.get("abandoned"),
    }


def models_list(request: Request) -> list[dict]:
    return [info_json(m) for m in list_models(store=store_of(request))]


def models_api(request: Request) -> Response:
    return api(models_list(request))


def models_page(request: Request) -> Response:
    return page(request, "models.html", models=models_list(request))


def model_data(store: Store, name: str) -> dict:
    """Everything the model page shows; newest first for moves, gate runs and events."""
    info = get_model(name, store=store)
    events = history(name, store=store)
    return {
        "model": info_json(info),
        "versions": [version_json(v) for v in list_versions(name, store=store)],
        "moves": [move_json(m) for m in reversed(alias_history(name, store=store))],
        "gates": [
            {
                "id": r.id,
                "alias": r.alias,
                "gate": r.gate.describe(),
                "spec": r.gate.to_spec(),
                "created": r.created,
            }
            for r in list_gates(name, store=store)
        ],
        "gate_runs": [gate_run_json(e) for e in reversed(events) if e.action == Action.GATE_RUN],
        "events": [event_json(e) for e in reversed(events)],
    }


def model_api(request: Request) -> Response:
    return api(model_data(store_of(request), request.path_params["name"]))


def model_page(request: Request) -> Response:
    return _model_page(request)


def _model_page(
    request: Request, status: int = 200, *, outcome: dict | None = None, fragment: bool = False
) -> Response:
    """The model page, or (`fragment`, for htmx) the promotion's outcome with the sections a
    move changes, swapped in out of band."""
    data = model_data(store_of(request), request.path_params["name"])
    return page(
        request, "model.html", status,
        data=data, outcome=outcome, fragment=fragment, describe=describe_detail,
    )  # fmt: skip


def describe_detail(detail: dict) -> str:
    """An audit event's detail in one line: a change as before → after, a record made or
    removed as its fields, a gate's verdict and reason, then the other fields as key=value.
    A gate's spec is left out: its description (`gate`) says the same for people."""
    before, after = detail.get("before"), detail.get("after")
    parts = []
    records = [side for side in (before, after) if isinstance(side, dict)]
    if records:
        parts.extend(f"{k}={_text(v)}" for r in records for k, v in r.items() if k != "spec")
    elif "before" in detail or "after" in detail:
        parts.append(f"{_text(before)} → {_text(after)}")
    for key, value in detail.items():
        if key in ("before", "after"):
            continue
        if key == "result" and isinstance(value, dict):
            verdict = "pass" if value.get("passed") else "fail"
            parts.append(f"{verdict}: {value.get('gate')}: {value.get('reason')}")
        else:
            parts.append(f"{key}={_text(value)}")
    return " · ".join(parts)


def _text(value: object) -> str:
    """A value for people: text as it is, a digest shortened, anything else as JSON."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value[:12] if DIGEST.fullmatch(value) else value
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Promotion:
    """What a promote request asks for: move `alias` to `version`; `force` (with a
    `reason`) moves it even if gates refuse."""

    alias: str
    version: int
    force: bool = False
    reason: str | None = None

    @classmethod
    def read(cls, fields: Mapping[str, object]) -> Promotion:
        """The promotion a JSON body or a form asks for; a missing or mistyped field is a
        RequestError (400). Form fields are text: a version's digits, a checkbox's "on"."""
        unknown = sorted(set(fields) - set(PROMOTE_FIELDS))
        if unknown:
            raise RequestError(f"unknown field(s) {', '.join(unknown)}: give alias, version, "
                               "and optionally force and reason")  # fmt: skip
        alias, version = fields.get("alias"), fields.get("version")
        if not isinstance(alias, str) or not alias.strip():
            raise RequestError("alias is required: the alias to move, e.g. production")
        if isinstance(version, str) and version.strip().isdigit():
            version = int(version)
        if isinstance(version, bool) or not isinstance(version, int):
            raise RequestError(f"version must be a version number, got {version!r}")
        force = fields.get("force", False)
        if isinstance(force, str):
            force = FORM_BOOLEANS.get(force.lower(), force)
        if not isinstance(force, bool):
            raise RequestError(f"force must be true or false, got {force!r}")
        reason = fields.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise RequestError(f"reason must be text, got {reason!r}")
        return cls(alias.strip(), version, force, (reason or "").strip() or None)

    async def run(self, store: Store, name: str, actor: str | None) -> AliasMove:
        """The move, as `cairn models promote` makes it: its gates run (off the event loop:
        they load models and may take minutes), recorded as done by `actor` (the subject of
        the request's token under --auth), else by the user running the UI."""

        def move() -> AliasMove:
            with acting_as(actor) if actor else contextlib.nullcontext():
                return set_alias(
                    name, self.alias, self.version,
                    reason=self.reason, force=self.force, store=store,
                )  # fmt: skip

        return await run_in_threadpool(move)


async def promote_api(request: Request) -> Response:
    check_same_origin(request)
    name = request.path_params["name"]
    store = store_of(request)
    get_model(name, store=store)  # an unknown model is a 404 before the body is read
    try:
        fields = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the body must be JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise RequestError('the body is a JSON object: {"alias": "production", "version": 3}')
    promotion = Promotion.read(fields)
    try:
        move = await promotion.run(store, name, acting_subject(request))
    except GateRefusedError as exc:
        return api(refusal_json(exc), 409)
    return api(move_json(move))


def refusal_json(exc: GateRefusedError) -> dict:
    return {"error": str(exc), "type": type(exc).__name__, "reasons": list(exc.reasons)}


async def promote_form(request: Request) -> Response:
    """The page's promote form. A refusal or a bad field is shown beside the form, with
    what was typed kept: with htmx (`HX-Request`) as a fragment with the sections a move
    changes, always 200 so htmx swaps it in; without, as the whole page with the error's
    status (409 for a refusal)."""
    check_same_origin(request)
    name = request.path_params["name"]
    store = store_of(request)
    get_model(name, store=store)  # an unknown model is the 404 page, not an outcome
    fields = {k: v for k, v in (await form_fields(request)).items() if k in PROMOTE_FIELDS}
    fragment = request.headers.get("hx-request") == "true"
    try:
        move = await Promotion.read(fields).run(store, name, acting_subject(request))
    except GateRefusedError as exc:
        outcome, status = {"refused": refusal_json(exc), "fields": fields}, 409
    except CairnError as exc:
        outcome, status = {"error": str(exc), "fields": fields}, status_of(exc)
    else:
        outcome, status = {"move": move_json(move), "fields": {}}, 200
    return _model_page(request, 200 if fragment else status, outcome=outcome, fragment=fragment)


def routes() -> list[Route]:
    return [
        Route("/models", models_page),
        Route("/models/{name}", model_page),
        Route("/models/{name}/promote", promote_form, methods=["POST"]),
        Route("/api/models", models_api),
        Route("/api/models/{name}", model_api),
        Route("/api/models/{name}/promote", promote_api, methods=["POST"]),
    ]
