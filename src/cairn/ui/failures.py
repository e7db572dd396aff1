"""One answer for every failure of a UI request: a CairnError's status from serve's one map
(a 500 only for a fault, logged under a request id), Starlette's 404 and 405 as they are;
JSON under /api/, a page elsewhere (the login page for a missing or refused token)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cairn.errors import AuthError, CairnError
from cairn.serve.statuses import error_response
from cairn.ui.web import api, page


def failure(request: Request, exc: Exception) -> Response:
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        kind = "NotFound" if status == 404 else "HTTPError"
        body = api({"error": message, "type": kind}, status).body
    else:
        status, body, headers = error_response(exc)
        message = str(exc) if isinstance(exc, CairnError) else "internal error"
    if request.url.path.startswith("/api/"):
        response: Response = Response(body, status, media_type="application/json")
    elif isinstance(exc, AuthError):
        query = request.url.query
        back = request.url.path + (f"?{query}" if query else "")
        response = page(request, "login.html", status, message=message, next=back)
    else:
        response = page(request, "error.html", status, status=status, message=message)
    for key, value in headers:
        response.headers[key.decode()] = value.decode()
    return response


async def failed(request: Request, exc: Exception) -> Response:
    """The app's exception handler."""
    return failure(request, exc)
