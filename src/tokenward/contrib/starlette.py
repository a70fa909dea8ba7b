"""Starlette: a backend for Starlette's own ``AuthenticationMiddleware``.

    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    backend = TokenwardBackend(settings=Settings(rules=(Rule.public("/health"),)))
    app = Starlette(routes=..., lifespan=backend.lifespan, middleware=[
        Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)])

``request.user`` is a ``TokenwardUser`` (``.token`` is the ``Identity``) and
``request.auth.scopes`` are the token's effective ACLs; a token holding ``all`` satisfies
any scope. Refusals are tokenward's own 401/403/503, not Starlette's default 400.

Guard an endpoint with this module's ``requires("edit-dns")``: a token without the ACL gets
tokenward's JSON 403, the body every integration sends. Starlette's own
``starlette.authentication.requires`` checks the same scopes but answers a plain-text
``Forbidden``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, ParamSpec

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.authentication import requires as starlette_requires
from starlette.requests import HTTPConnection
from starlette.responses import Response

from tokenward.asgi import request_from_scope
from tokenward.authenticator import Authenticator
from tokenward.core.acl import ALL, grants
from tokenward.core.responses import Refusal, Responses
from tokenward.core.settings import Settings
from tokenward.core.tokens import Identity
from tokenward.factory import IDENTITY_KEY, resolve_authenticator
from tokenward.guard import Guard, StoreSpec

__all__ = [
    "ACLScopes",
    "TokenCredentials",
    "TokenwardBackend",
    "TokenwardUser",
    "requires",
    "to_starlette",
]

P = ParamSpec("P")
# Where the backend leaves its refusals for ``requires``: the same bodies as its own.
_RESPONSES_KEY = "tokenward.responses"


class ACLScopes(list[str]):
    """The token's ACLs as Starlette scopes; ``all`` contains every scope."""

    def __contains__(self, scope: object) -> bool:
        return super().__contains__(ALL) or super().__contains__(scope)


class TokenCredentials(AuthCredentials):
    """``AuthCredentials`` copies scopes into a plain list; keep ``ACLScopes`` instead."""

    def __init__(self, identity: Identity) -> None:
        super().__init__()
        self.scopes = ACLScopes(sorted(identity.acls))


class TokenwardUser(BaseUser):
    """Starlette's ``identity`` is the user name; the whole identity is ``.token``."""

    def __init__(self, token: Identity) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.user

    @property
    def identity(self) -> str:
        return self.token.user


class _Refused(AuthenticationError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.status)
        self.refusal = refusal


def to_starlette(refusal: Refusal) -> Response:
    return Response(refusal.body, status_code=refusal.status, headers=dict(refusal.headers))


class TokenwardBackend(AuthenticationBackend):
    def __init__(
        self,
        store: Guard | StoreSpec = None,
        settings: Settings | None = None,
        *,
        authenticator: Authenticator | None = None,
        **options: Any,
    ) -> None:
        self.authenticator = resolve_authenticator(store, settings, authenticator, options)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        conn.scope[_RESPONSES_KEY] = self.authenticator.responses
        request = request_from_scope(conn.scope, self.authenticator.settings)
        decision = await self.authenticator.authenticate_async(request)
        if decision.refusal is not None:
            raise _Refused(decision.refusal)
        identity = decision.identity
        if identity is None:
            return None  # a public route: Starlette's UnauthenticatedUser
        conn.scope[IDENTITY_KEY] = identity
        return TokenCredentials(identity), TokenwardUser(identity)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """Pass as ``Starlette(lifespan=backend.lifespan)``: pending last-used times are
        written at shutdown (nothing else of tokenward's hears it in this setup)."""
        await self.authenticator.guard.astart()
        try:
            yield
        finally:
            await self.authenticator.guard.aclose()

    def on_error(self, conn: HTTPConnection, exc: Exception) -> Response:
        """Pass as ``AuthenticationMiddleware(on_error=backend.on_error)``."""
        if isinstance(exc, _Refused):
            return to_starlette(exc.refusal)
        return to_starlette(self.authenticator.responses.unauthorized)


def requires(*acls: str) -> Callable[[Callable[P, Any]], Callable[P, Any]]:
    """Starlette's ``@requires`` with tokenward's refusals: 403 (JSON, as in every other
    integration) for a token without ``acls``, 401 for a request without a token (a public
    or optional route). For endpoints taking ``request``, sync or async; on a websocket
    endpoint it is Starlette's own, which closes the connection."""
    required = frozenset(acls)

    def refusal(conn: object) -> Response | None:
        assert isinstance(conn, HTTPConnection), "the endpoint's 'request' is not a Request"
        responses: Responses = conn.scope.get(_RESPONSES_KEY) or _RESPONSES
        identity = conn.scope.get(IDENTITY_KEY)
        if not isinstance(identity, Identity):
            return to_starlette(responses.unauthorized)
        if not grants(identity.acls, required):
            return to_starlette(responses.forbidden)
        return None

    def decorate(endpoint: Callable[P, Any]) -> Callable[P, Any]:
        names = list(inspect.signature(endpoint).parameters)
        if "websocket" in names:
            return starlette_requires(sorted(required))(endpoint)
        if "request" not in names:
            raise TypeError(f"{endpoint!r} takes no 'request' argument to check")
        index = names.index("request")

        def request_of(args: tuple[object, ...], kwargs: dict[str, object]) -> object:
            return kwargs["request"] if "request" in kwargs else args[index]

        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def async_wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
                return refusal(request_of(args, kwargs)) or await endpoint(*args, **kwargs)

            return async_wrapped

        @functools.wraps(endpoint)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
            return refusal(request_of(args, kwargs)) or endpoint(*args, **kwargs)

        return wrapped

    return decorate


_RESPONSES = Responses()  # for an app without the backend: the defaults
