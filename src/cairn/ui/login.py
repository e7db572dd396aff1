"""Signing in a browser with a token (`cairn ui --auth`): the token is kept in an HttpOnly,
SameSite=Strict cookie, which the access middleware reads when no header is sent."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cairn.errors import RequestError
from cairn.ui.access import COOKIE
from cairn.ui.web import check_same_origin, form_fields, page

MAX_TOKEN = 16 * 1024


async def login_page(request: Request) -> Response:
    return page(request, "login.html", message=None, next=_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    check_same_origin(request)
    form = await form_fields(request)
    token = str(form.get("token", "")).strip()
    if not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        raise RequestError("paste one token, as `cairn auth grant` printed it")
    response = RedirectResponse(_next(str(form.get("next", "/"))), 303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure)
    return response


async def logout(request: Request) -> Response:
    check_same_origin(request)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response


async def live(_: Request) -> Response:
    return Response(b'{"status":"live"}', media_type="application/json")


def _next(path: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host`)."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path


def routes() -> list[Route]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/health/live", live),
    ]
