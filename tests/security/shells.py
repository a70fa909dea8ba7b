"""Every way a request reaches tokenward, driven with raw WSGI environs and ASGI scopes.

Test clients normalise URLs (httpx resolves dot segments), so the seam suites build the
environ or scope a server would: ``PATH_INFO`` and ``path`` percent-decoded once, as
gunicorn and uvicorn do, the raw target kept beside them. Each shell wraps a catch-all app
that answers 200 to any path, so a status other than tokenward's own refusal means the
request got through. The method is GET unless the headers carry a ``:method`` pseudo-header
(taken out before the request is built).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote

from tests.adapters.targets import django_app

from tokenward import (
    Authenticator,
    Settings,
    TokenStore,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
)
from tokenward.forward_auth import ForwardAuthASGI, ForwardAuthWSGI
from tokenward.guard import Guard
from tokenward.server import TokenwardServer
from tokenward.testing import FrozenClock

Headers = Mapping[str, str]
Send = Callable[[str, Headers, str], int]  # raw target, headers, peer -> status


@dataclasses.dataclass(frozen=True)
class Shell:
    """``send(target, headers, peer)``; ``mount`` is prepended to the target the client
    sends (the app is mounted there); ``forward`` puts the target in the forward-auth
    headers instead; ``routed`` says a router matches the path before tokenward runs (a
    mount, or FastAPI's per-route dependency), so a path it cannot match never reaches
    tokenward and a public path still meets the route's own requirement."""

    send: Send
    mount: str = ""
    forward: bool = False
    routed: bool = False


def wsgi_call(app: Any, target: str, headers: Headers, peer: str, script_name: str = "") -> int:
    method, headers = split_method(headers)
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": target,
        "REQUEST_URI": target,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": peer,
        "wsgi.url_scheme": "http",
        "wsgi.input": _EmptyInput(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    statuses: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]], _exc: Any = None) -> Any:
        statuses.append(status)
        return lambda _data: None

    result = app(environ, start_response)
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(statuses[0].split()[0])


class _EmptyInput:
    def read(self, size: int = -1) -> bytes:
        return b""

    def readline(self, size: int = -1) -> bytes:
        return b""


def asgi_call(app: Any, target: str, headers: Headers, peer: str) -> int:
    method, headers = split_method(headers)
    path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": (peer, 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent: list[MutableMapping[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # Django listens for a disconnect: none comes, it cancels the wait
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def split_method(headers: Headers) -> tuple[str, dict[str, str]]:
    """The ``:method`` pseudo-header (GET when absent), and the real headers."""
    rest = dict(headers)
    return rest.pop(":method", "GET"), rest


# -- catch-all apps -------------------------------------------------------------------


def catchall_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"served"]


async def catchall_asgi(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})


def not_found_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("404 Not Found", [])
    return [b""]


# -- the shells ---------------------------------------------------------------------------


def build_shells(store: TokenStore, settings: Settings, clock: FrozenClock) -> dict[str, Shell]:
    """Every shell and adapter over one store and one set of rules."""

    def auth() -> Authenticator:
        return Guard(store, settings, clock=clock, background_flush=False).authenticator

    wsgi = TokenwardWSGIMiddleware(catchall_wsgi, authenticator=auth())
    asgi = TokenwardASGIMiddleware(catchall_asgi, authenticator=auth())
    return {
        "wsgi": Shell(lambda t, h, p: wsgi_call(wsgi, t, h, p)),
        "asgi": Shell(lambda t, h, p: asgi_call(asgi, t, h, p)),
        "wsgi-mounted": _wsgi_mounted(auth()),
        "asgi-mounted": _asgi_mounted(auth()),
        "flask": _flask(store, settings, clock),
        "starlette": _starlette(auth()),
        "fastapi": _fastapi(auth()),
        "forward-auth-asgi": _forward(asgi_call, ForwardAuthASGI(auth())),
        "forward-auth-wsgi": _forward(wsgi_call, ForwardAuthWSGI(auth())),
        "tokenward-server": _forward(asgi_call, TokenwardServer(auth()), path="/auth"),
    }


def _forward(call: Callable[..., int], app: Any, path: str = "/") -> Shell:
    """A reverse proxy asks about ``target``: the original URI and method go in headers."""

    def send(target: str, headers: Headers, peer: str) -> int:
        method, headers = split_method(headers)
        asked = {**headers, "X-Original-URI": target, "X-Original-Method": method}
        return call(app, path, asked, peer)

    return Shell(send, forward=True)


def _wsgi_mounted(authenticator: Authenticator) -> Shell:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    inner = TokenwardWSGIMiddleware(catchall_wsgi, authenticator=authenticator)
    app = DispatcherMiddleware(not_found_wsgi, {"/api": inner})
    return Shell(lambda t, h, p: wsgi_call(app, t, h, p), mount="/api", routed=True)


def _asgi_mounted(authenticator: Authenticator) -> Shell:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inner = TokenwardASGIMiddleware(catchall_asgi, authenticator=authenticator)
    app = Starlette(routes=[Mount("/api", app=inner)])
    return Shell(lambda t, h, p: asgi_call(app, t, h, p), mount="/api", routed=True)


def _flask(store: TokenStore, settings: Settings, clock: FrozenClock) -> Shell:
    from flask import Flask

    from tokenward.contrib.flask import Tokenward

    app = Flask("seams")
    app.config.update(TOKENWARD_STORE=store, TOKENWARD_SETTINGS=settings)

    @app.route("/", defaults={"rest": ""})
    @app.route("/<path:rest>")
    def anything(rest: str) -> str:
        return "served"

    Tokenward(app, clock=clock, background_flush=False)
    return Shell(lambda t, h, p: wsgi_call(app, t, h, p))


def _starlette(authenticator: Authenticator) -> Shell:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from tokenward.contrib.starlette import TokenwardBackend

    async def anything(request: Request) -> PlainTextResponse:
        return PlainTextResponse("served")

    backend = TokenwardBackend(authenticator=authenticator)
    app = Starlette(
        routes=[Route("/{rest:path}", anything)],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)
        ],
    )
    return Shell(lambda t, h, p: asgi_call(app, t, h, p))


def _fastapi(authenticator: Authenticator) -> Shell:
    from fastapi import Depends, FastAPI

    from tokenward.contrib.fastapi import TokenwardAuth

    app = FastAPI()
    tw = TokenwardAuth(authenticator=authenticator)
    tw.install(app)

    @app.get("/{rest:path}", dependencies=[Depends(tw.require())])
    def anything(rest: str) -> str:
        return "served"

    return Shell(lambda t, h, p: asgi_call(app, t, h, p), routed=True)


def django_shells() -> dict[str, Shell]:
    """The example Django project (rules: ``/health`` public, ``/dns`` needs ``edit-dns``,
    a token elsewhere), store from ``$TOKENWARD_STORE``."""
    wsgi, asgi = django_app("wsgi"), django_app("asgi")
    return {
        "django-wsgi": Shell(lambda t, h, p: wsgi_call(wsgi, t, h, p)),
        "django-asgi": Shell(lambda t, h, p: asgi_call(asgi, t, h, p)),
    }
