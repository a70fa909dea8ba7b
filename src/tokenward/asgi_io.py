"""Raw ASGI I/O, once: the types, sending a whole response, reading a bounded body.

Every ASGI app of tokenward's (the middleware's refusals, forward auth, the server, the
management API, the web page) sends and reads through these, so a header encoding or a body
limit is decided in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "BodyTooLargeError",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLargeError(Exception):
    """The request body went past the limit; what was read is dropped."""


async def send_response(
    send: Send, status: int, headers: Iterable[tuple[str, str]], body: bytes = b""
) -> None:
    """Start and body in one go; header names and values are latin-1, as HTTP/1.1 has it."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int, scope: Scope | None = None) -> bytes:
    """The whole request body, refused (``BodyTooLargeError``) as soon as it passes
    ``limit`` bytes, without keeping more than that in memory; with ``scope``, at once when
    its ``Content-Length`` already says more (an unreadable one is ignored: the read is
    bounded anyway)."""
    if scope is not None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and _declared_length(value) > limit:
                raise BodyTooLargeError(f"request body declared over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _declared_length(value: bytes) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
