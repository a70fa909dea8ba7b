"""The apps section 4 serves: one inner app (``/whoami``, public ``/health``) behind each
authentication variant, built by the factories the servers name (``benchmarks.apps:NAME``).
The Django variants are a DRF view instead (benchmarks/django_project.py), with the same
answer and the floor's lookup below.

Every variant answers ``/whoami`` with the same code: ``json.dumps(identity.as_dict())`` of
a tokenward ``Identity``, so the variants differ only in how the identity was found. The
runner (benchmarks/http.py) passes what a factory needs through the environment:

- ``TOKENWARD_BENCH_FLOOR_TOKENS``: a JSON file ``{secret: user}`` for the floor and the
  Starlette backend (the runner writes it, mode 0600, and deletes it afterwards);
- ``TOKENWARD_STORE``: the SQLite store the runner minted the token into;
- ``TOKENWARD_BENCH_HEADER_FILE``: where the memory-store factory writes the header of the
  token it mints at start-up (a memory store lives only in the server process).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenward import (
    IDENTITY_KEY,
    Guard,
    Identity,
    MemoryStore,
    Realm,
    Rule,
    Settings,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
    format_authorization,
)
from tokenward.asgi_io import ASGIApp, Receive, Scope, Send
from tokenward.stores.url import STORE_ENV

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FLOOR_TOKENS_ENV = "TOKENWARD_BENCH_FLOOR_TOKENS"
HEADER_FILE_ENV = "TOKENWARD_BENCH_HEADER_FILE"
USER = "bench"
TOKEN_NAME = "http"

_JSON = [(b"content-type", b"application/json")]
_HEALTH = b'{"status":"ok"}'
_REFUSED = b'{"error":"unauthorized"}'


def bench_settings() -> Settings:
    """tokenward's defaults (argon2, last-use interval, audit) with ``/health`` public."""
    return Settings(rules=(Rule.public("/health"),))


def bench_identity(user: str = USER) -> Identity:
    """What the floor and the Starlette backend find: the shape tokenward's token gives."""
    return Identity(user=user, realm=Realm.CPANEL, token_name=TOKEN_NAME, acls=frozenset({"all"}))


def floor_tokens() -> dict[str, Identity]:
    """Loaded once at start-up: secret -> identity."""
    users: dict[str, str] = json.loads(Path(os.environ[FLOOR_TOKENS_ENV]).read_text())
    return {secret: bench_identity(user) for secret, user in users.items()}


def floor_lookup(tokens: dict[str, Identity], header: str) -> Identity | None:
    """The cheapest check that could call itself token auth: split, one dict lookup."""
    scheme, _, rest = header.partition(" ")
    user, _, secret = rest.partition(":")
    identity = tokens.get(secret)
    if identity is None or identity.user != user or scheme != "cpanel":
        return None
    return identity


# -- ASGI ---------------------------------------------------------------------------------


async def _lifespan(receive: Receive, send: Send) -> None:
    """Only gunicorn's UvicornWorker asks (lifespan "auto"): answered, nothing to start."""
    for _ in range(2):  # startup, then shutdown
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def asgi_routes(identity_of: Callable[[Scope], Identity | None]) -> ASGIApp:
    """The inner app every ASGI variant wraps; ``identity_of`` reads where its layer put it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path = scope["path"]
        status, body = 404, b"{}"
        if path == "/health":
            status, body = 200, _HEALTH
        elif path == "/whoami":
            identity = identity_of(scope)
            status, body = (
                (401, _REFUSED)
                if identity is None
                else (200, json.dumps(identity.as_dict()).encode())
            )
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    return app


def _scope_identity(scope: Scope) -> Identity | None:
    identity: Identity | None = scope.get(IDENTITY_KEY)
    return identity


class FloorASGIMiddleware:
    """The floor: the Authorization header, ``str.partition``, a dict; 401 otherwise."""

    def __init__(self, app: ASGIApp, tokens: dict[str, Identity]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"authorization":
                identity = floor_lookup(self.tokens, value.decode("latin-1"))
                if identity is not None:
                    scope[IDENTITY_KEY] = identity
                    await self.app(scope, receive, send)
                    return
                break
        await send({"type": "http.response.start", "status": 401, "headers": _JSON})
        await send({"type": "http.response.body", "body": _REFUSED})


def asgi_floor() -> ASGIApp:
    return FloorASGIMiddleware(asgi_routes(_scope_identity), floor_tokens())


def asgi_tokenward_sqlite() -> ASGIApp:
    guard = Guard(os.environ[STORE_ENV], bench_settings())
    return TokenwardASGIMiddleware(asgi_routes(_scope_identity), guard)


def asgi_tokenward_memory() -> ASGIApp:
    return TokenwardASGIMiddleware(asgi_routes(_scope_identity), _memory_guard())


def asgi_starlette() -> ASGIApp:
    """Starlette's ``AuthenticationMiddleware`` with a backend doing the floor's lookup."""
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        BaseUser,
    )
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import HTTPConnection
    from starlette.responses import Response

    class TokenUser(BaseUser):
        def __init__(self, identity: Identity) -> None:
            self.token_identity = identity  # BaseUser.identity is Starlette's own

        @property
        def is_authenticated(self) -> bool:
            return True

        @property
        def display_name(self) -> str:
            return self.token_identity.user

    class DictBackend(AuthenticationBackend):
        def __init__(self, tokens: dict[str, Identity]) -> None:
            self.tokens = tokens

        async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
            header = conn.headers.get("authorization")
            identity = None if header is None else floor_lookup(self.tokens, header)
            if identity is None:
                raise AuthenticationError("unauthorized")
            return AuthCredentials(["authenticated"]), TokenUser(identity)

    def refuse(conn: HTTPConnection, exc: AuthenticationError) -> Response:
        return Response(_REFUSED, status_code=401, media_type="application/json")

    def identity_of(scope: Scope) -> Identity | None:
        user = scope.get("user")
        return user.token_identity if isinstance(user, TokenUser) else None

    app: Any = asgi_routes(identity_of)
    return AuthenticationMiddleware(app, DictBackend(floor_tokens()), on_error=refuse)


# -- WSGI ---------------------------------------------------------------------------------


def wsgi_routes(identity_of: Callable[[WSGIEnvironment], Identity | None]) -> WSGIApplication:
    """The inner app every WSGI variant wraps."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        status, body = "404 Not Found", b"{}"
        if path == "/health":
            status, body = "200 OK", _HEALTH
        elif path == "/whoami":
            identity = identity_of(environ)
            status, body = (
                ("401 Unauthorized", _REFUSED)
                if identity is None
                else ("200 OK", json.dumps(identity.as_dict()).encode())
            )
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def _environ_identity(environ: WSGIEnvironment) -> Identity | None:
    identity: Identity | None = environ.get(IDENTITY_KEY)
    return identity


class FloorWSGIMiddleware:
    """The WSGI floor, as the ASGI one."""

    def __init__(self, app: WSGIApplication, tokens: dict[str, Identity]) -> None:
        self.app = app
        self.tokens = tokens

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/health":
            header = environ.get("HTTP_AUTHORIZATION")
            identity = None if header is None else floor_lookup(self.tokens, header)
            if identity is None:
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(_REFUSED)))],
                )
                return [_REFUSED]
            environ[IDENTITY_KEY] = identity
        return self.app(environ, start_response)


def wsgi_floor() -> WSGIApplication:
    return FloorWSGIMiddleware(wsgi_routes(_environ_identity), floor_tokens())


def wsgi_tokenward_sqlite() -> WSGIApplication:
    guard = Guard(os.environ[STORE_ENV], bench_settings())
    return TokenwardWSGIMiddleware(wsgi_routes(_environ_identity), guard)


def wsgi_tokenward_memory() -> WSGIApplication:
    return TokenwardWSGIMiddleware(wsgi_routes(_environ_identity), _memory_guard())


# -- the memory store's token ---------------------------------------------------------------


def _memory_guard() -> Guard:
    """A memory store is private to its process, so the token is minted here, through the
    guard's own service, and its header handed to the runner in a file only it can read
    (written aside and renamed, so the runner never reads half of it)."""
    guard = Guard(MemoryStore(), bench_settings())
    created = guard.service.create(USER, TOKEN_NAME)
    header = format_authorization(created.record.realm, created.record.user, created.secret)
    target = Path(os.environ[HEADER_FILE_ENV])
    partial = target.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(header)
    partial.rename(target)
    return guard
