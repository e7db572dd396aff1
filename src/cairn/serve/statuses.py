"""The one place where cairn's errors become HTTP statuses.

Bad input is a 4xx with a JSON body saying what is wrong; a 5xx only ever means the server
(or a model inside it) failed, and carries the request id it was logged under.
"""

from __future__ import annotations

import logging

import orjson
from ulid import ULID

from cairn.errors import (
    AuthError,
    CairnError,
    FlavorError,
    ForbiddenError,
    GateRefusedError,
    InvalidNameError,
    InvalidValueError,
    NotFoundError,
    OverloadedError,
    PayloadTooLargeError,
    PredictError,
    RequestError,
    SignatureError,
    UnsupportedMediaTypeError,
)
from cairn.serve.bearer import challenge

# Most specific first: the first class an error is an instance of decides.
STATUSES: tuple[tuple[type[CairnError], int], ...] = (
    (AuthError, 401),
    (ForbiddenError, 403),
    (UnsupportedMediaTypeError, 415),
    (PayloadTooLargeError, 413),
    (RequestError, 400),
    (SignatureError, 422),
    (NotFoundError, 404),
    (GateRefusedError, 409),
    (OverloadedError, 503),
    (PredictError, 500),
    (InvalidNameError, 400),
    (InvalidValueError, 400),
    (FlavorError, 400),
)
log = logging.getLogger("cairn.serve")
DEFAULT_STATUS = 400  # any other deliberate error: the request asked for something cairn refuses


def status_of(error: CairnError) -> int:
    for kind, status in STATUSES:
        if isinstance(error, kind):
            return status
    return DEFAULT_STATUS


def headers_of(error: CairnError) -> dict[str, str]:
    """Headers an error's response carries: when to retry an overloaded server, how to
    authenticate to one that refused the request's token."""
    if isinstance(error, OverloadedError):
        return {"retry-after": str(max(1, round(error.retry_after)))}
    if isinstance(error, AuthError):
        return {"www-authenticate": challenge(error)}
    return {}


def error_response(exc: BaseException) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """(status, JSON body, extra headers) for any exception. A 500 carries the request id
    it is logged under: a model that raised, or a fault of the server's own."""
    if isinstance(exc, CairnError):
        status = status_of(exc)
        body: dict = {"error": str(exc), "type": type(exc).__name__}
        headers = [(k.encode(), v.encode()) for k, v in headers_of(exc).items()]
    else:
        status, body, headers = 500, {"error": "internal error", "type": "InternalError"}, []
    if status == 500:
        body["request_id"] = request_id = str(ULID())
        log.error("request %s failed", request_id, exc_info=exc)
    return status, orjson.dumps(body), headers
