"""Pure ASGI shell (http and websocket; anything else but lifespan passes through).

A refused http request gets tokenward's response; a refused websocket is closed with 1008
(policy violation) before it is accepted. Lifespan goes to the app, and tokenward answers
what the app leaves unanswered (``tokenward.lifespan``): on shutdown pending last-used times
are written before the server is told shutdown is complete, whether the app serves
lifespan or not. ``with_lifespan`` does the same for an app with no shell of ours (Django).
"""

from __future__ import annotations

from typing import Any

from tokenward.asgi_io import ASGIApp, Message, Receive, Scope, Send, send_response
from tokenward.authenticator import Authenticator, Decision
from tokenward.core.request import RequestInfo
from tokenward.core.settings import PUBLIC, Settings
from tokenward.factory import IDENTITY_KEY, resolve_authenticator
from tokenward.guard import Guard, StoreSpec
from tokenward.lifespan import Flushable, LifespanApp, serve_lifespan

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "TokenwardASGIMiddleware",
    "request_from_scope",
    "route_path",
    "run_lifespan",
    "with_lifespan",
]


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


def request_from_scope(scope: Scope, settings: Settings, path: str | None = None) -> RequestInfo:
    """``path``: the route path when the caller has it already (``route_path(scope)``)."""
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
        path=route_path(scope) if path is None else path,
        authorization=tuple(authorization),
        peer=None if not client else str(client[0]),
        forwarded=forwarded,
        scheme=scope.get("scheme", "http"),
        forwarded_proto=proto,
    )


async def _nothing_to_start(scope: Scope, receive: Receive, send: Send) -> None:
    """An app without a lifespan of its own: tokenward answers every message."""


async def run_lifespan(receive: Receive, send: Send, *authenticators: Flushable) -> None:
    """The lifespan of an app that is the server's top level (nothing to start): at
    shutdown each authenticator, once, writes its pending last-used times."""
    scope: Scope = {"type": "lifespan"}
    await serve_lifespan(_nothing_to_start, scope, receive, send, *authenticators)


def with_lifespan(app: ASGIApp, *authenticators: Flushable) -> ASGIApp:
    """``app`` with lifespan served for it when it does not serve it (Django, a raw app),
    each authenticator writing its pending last use at shutdown; other scopes pass through.

    For apps whose tokenward layer is not an ASGI middleware of ours, so nothing of ours
    hears shutdown: ``with_lifespan(get_asgi_application(), get_authenticator)``. An
    authenticator may be given as a function returning it, called at shutdown.
    """
    return LifespanApp(app, *authenticators)


class TokenwardASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: Guard | StoreSpec = None,
        settings: Settings | None = None,
        *,
        authenticator: Authenticator | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.authenticator = resolve_authenticator(store, settings, authenticator, options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            if kind == "lifespan":
                await serve_lifespan(self.app, scope, receive, send, self.authenticator)
            else:
                await self.app(scope, receive, send)
            return
        authenticator = self.authenticator
        settings = authenticator.settings
        # Mounted or not: route_path only when there is a mount point to take off.
        path = route_path(scope) if scope.get("root_path") else scope.get("path") or "/"
        method = scope.get("method", "GET")
        requirement = settings.requirement(method, path)
        # A public route costs one cached rule lookup: no request copied, no header read.
        if requirement == PUBLIC:
            await self.app(scope, receive, send)
            return
        decision = None
        if requirement is not None and requirement[0] == "token":
            decision = _warm(authenticator, scope, settings, method, requirement[1])
        if decision is None:
            request = request_from_scope(scope, settings, path)
            decision = await authenticator.authenticate_async(request)
        response = decision.refusal
        if response is None:
            if decision.identity is not None:
                scope[IDENTITY_KEY] = decision.identity
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
        else:
            await send_response(send, response.status, response.headers, response.body)


def _warm(
    authenticator: Authenticator,
    scope: Scope,
    settings: Settings,
    method: str,
    required: frozenset[str],
) -> Decision | None:
    """``Authenticator.warm`` with the headers read as ``request_from_scope`` reads them;
    ``None`` at once for a request without exactly one ``Authorization`` header."""
    authorization: bytes | None = None
    several = False
    forwarded = None
    if settings.proxy_networks:
        wanted = settings.proxy_header.encode()
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                several = authorization is not None
                authorization = value
            elif name == wanted:
                text = value.decode("latin-1")
                forwarded = text if forwarded is None else f"{forwarded}, {text}"
    else:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                several = authorization is not None
                authorization = value
    if authorization is None or several:
        return None
    client = scope.get("client")
    return authenticator.warm(
        method,
        required,
        authorization=authorization,
        peer=None if not client else str(client[0]),
        forwarded=forwarded,
        scheme=scope.get("scheme", "http"),
    )
