"""The bearer token a request carries (RFC 6750) and the challenge a 401 answers with."""

from __future__ import annotations

from cairn.errors import AuthError
from cairn.serve.bodies import header

REALM = "cairn"
SCHEME = "bearer"


class MissingTokenError(AuthError):
    """No `Authorization` header at all: the challenge names no error (RFC 6750, 3.1)."""


def bearer_token(scope: dict) -> str:
    """The token of the request's `Authorization: Bearer TOKEN` header."""
    value = header(scope, b"authorization")
    if value is None:
        raise MissingTokenError(
            "this server requires a token: send `Authorization: Bearer TOKEN` "
            "(`cairn auth grant SUBJECT --allow predict:model/NAME` makes one)"
        )
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME or not token or " " in token:
        raise AuthError("the Authorization header is malformed: send `Authorization: Bearer TOKEN`")
    return token


def challenge(error: AuthError) -> str:
    """The `WWW-Authenticate` value of a 401 for `error`."""
    if isinstance(error, MissingTokenError):
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="invalid_token"'
