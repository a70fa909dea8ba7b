"""Hello-world apps for the HTTP runs, alone and behind tokenward (store: $TOKENWARD_STORE)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tokenward import TokenwardASGIMiddleware, TokenwardWSGIMiddleware


async def asgi_hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def asgi_protected() -> Any:
    return TokenwardASGIMiddleware(asgi_hello)


def wsgi_protected() -> Any:
    return TokenwardWSGIMiddleware(wsgi_hello)
