"""Pure ASGI shell (http and websocket; lifespan and anything else pass through).

A refused http request gets tokenward's response; a refused websocket is closed with 1008
(policy violation) before it is accepted. On lifespan shutdown pending last-used times are
written before the server is told shutdown is complete.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tokenward.authenticator import Authenticator
from tokenward.core.request import RequestInfo
from tokenward.core.settings import Settings
from tokenward.factory import IDENTITY_KEY, StoreSpec, build_authenticator

__all__ = ["ASGIApp", "TokenwardASGIMiddleware", "request_from_scope", "route_path", "run_lifespan"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def route_path(scope: Scope) -> str:
    """The path the application routes on: ``path`` below ``root_path`` (where the app is
    mounted). ASGI's ``path`` includes ``root_path``; as Starlette and Django do, a path
    that does not start with it is taken as already relative (older servers)."""
    path: str = scope.get("path") or "/"
    root: str = (scope.get("root_path") or "").rstrip("/")
    if root and path.startswith(root):
        rest = path[len(root) :]
        if not rest or rest[0] == "/":
            return rest or "/"
    return path


def request_from_scope(scope: Scope, settings: Settings) -> RequestInfo:
    authorization: list[str] = []
    forwarded = proto = None
    trusting = bool(settings.proxy_networks)  # proxy headers are read only when trusted
    wanted = settings.proxy_header.encode()
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif trusting and name == wanted:
            text = value.decode("latin-1")
            forwarded = text if forwarded is None else f"{forwarded}, {text}"
        elif trusting and name == b"x-forwarded-proto":
            proto = value.decode("latin-1")
    client = scope.get("client")
    return RequestInfo(
        method=scope.get("method", "GET"),
        path=route_path(scope),
        authorization=tuple(authorization),
        peer=None if not client else str(client[0]),
        forwarded=forwarded,
        scheme=scope.get("scheme", "http"),
        forwarded_proto=proto,
    )


async def run_lifespan(receive: Receive, send: Send, *authenticators: Authenticator) -> None:
    """The lifespan of an app that is the server's top level (nothing to start): at
    shutdown each authenticator, once, writes its pending last-used times."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for authenticator in {id(a): a for a in authenticators}.values():
                await authenticator.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


class TokenwardASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: StoreSpec = None,
        settings: Settings | None = None,
        *,
        authenticator: Authenticator | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.authenticator = authenticator or build_authenticator(store, settings, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = request_from_scope(scope, self.authenticator.settings)
        decision = await self.authenticator.authenticate_async(request)
        response = decision.response
        if response is None:
            if decision.identity is not None:
                scope[IDENTITY_KEY] = decision.identity
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(k.encode(), v.encode()) for k, v in response.headers],
                }
            )
            await send({"type": "http.response.body", "body": response.body})

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.authenticator.aclose()
            await send(message)

        return wrapped
