"""Reading a request body off an ASGI `receive`, within a size limit, without Starlette: the
predict route is a bare ASGI callable because it is the hot path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cairn.errors import PayloadTooLargeError, RequestError

Receive = Callable[[], Awaitable[dict]]


def header(scope: dict, name: bytes) -> str | None:
    """A request header's value (`name` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(scope: dict, receive: Receive, limit: int) -> bytes:
    """The whole body; PayloadTooLargeError as soon as it is known to be over `limit`."""
    length = header(scope, b"content-length")
    if length is not None:
        if not length.isdigit():
            raise RequestError(f"Content-Length {length!r} is not a number of bytes")
        if int(length) > limit:
            raise PayloadTooLargeError(_too_large(int(length), limit))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(_too_large(size, limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the body has {size:,} bytes, over this server's limit of {limit:,}; send fewer rows "
        "per request or start the server with a larger --max-body"
    )
