"""What every page and API route shares: JSON and HTML responses, templates, and reading
query parameters into checked values (bad ones are a RequestError, so a 400, never a 500)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cairn.errors import (
    ForbiddenError,
    PayloadTooLargeError,
    RequestError,
    UnsupportedMediaTypeError,
)
from cairn.readable import duration, number, size
from cairn.store import Store

HERE = Path(__file__).parent
STATIC = HERE / "static"


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(when=_when, took=duration, number=lambda v: number(v, 6), size=size)


def store_of(request: Request) -> Store:
    return request.app.state.store


def page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    """The page `template` rendered with `context`. htmx requests get the whole page too and
    take the part they show with `hx-select`: one template, one URL, for both."""
    html = templates.get_template(template).render(
        request=request, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code)


def api(value: object, status: int = 200) -> Response:
    """`value` as JSON (NaN and infinities become null, as JSON has neither)."""
    return Response(
        orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
        status,
        media_type="application/json",
    )


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low} and {high}, not {value}")
    return value


def query_list(request: Request, name: str) -> list[str]:
    """A comma-separated parameter (or the parameter repeated) as a list, empty parts left
    out: `?runs=A,B` and `?runs=A&runs=B` mean the same."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request another site's page made the browser send (CSRF):
    the browser says where it came from in Sec-Fetch-Site or Origin; a script's request
    without either (curl, httpx) is not a browser's and passes."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise ForbiddenError(f"a {site} request may not change anything here")
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise ForbiddenError(f"a request from {origin} may not change anything here")


PRINCIPAL = "principal"  # where `--auth` leaves who the request acts as, in request.state


def acting_subject(request: Request) -> str | None:
    """The subject of the request's token under `--auth`; None without auth."""
    principal = request.scope.get("state", {}).get(PRINCIPAL)
    return None if principal is None else principal.subject


FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """A posted HTML form's fields (URL-encoded: the UI's forms upload no files, so no
    multipart parser is needed)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise UnsupportedMediaTypeError(f"the form is posted as {FORM_TYPE}, not {kind!r}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError(f"a form is at most {MAX_FORM_BYTES} bytes")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise RequestError("the form is not UTF-8 text") from None
