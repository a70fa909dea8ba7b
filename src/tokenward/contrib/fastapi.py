"""FastAPI: a dependency that requires a token (and ACLs), shown in OpenAPI as a security
scheme so ``/docs`` has the padlock.

    auth = TokenwardAuth()                      # store from $TOKENWARD_STORE
    auth.install(app)                           # tokenward's own 401/403/503 bodies

    @app.get("/dns/zones")
    def zones(identity: Identity = Depends(auth.require("edit-dns"))): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.responses import Response

from tokenward.asgi import request_from_scope
from tokenward.authenticator import Authenticator
from tokenward.core.acl import grants
from tokenward.core.responses import Refusal
from tokenward.core.settings import Settings
from tokenward.core.tokens import Identity
from tokenward.factory import resolve_authenticator
from tokenward.guard import Guard, StoreSpec

__all__ = ["Refused", "TokenwardAuth"]


class Refused(HTTPException):
    """Carries tokenward's exact response; without ``install`` FastAPI still answers with
    the right status and headers."""

    def __init__(self, refusal: Refusal) -> None:
        headers = {k: v for k, v in refusal.headers if k not in ("content-length", "content-type")}
        super().__init__(status_code=refusal.status, detail=refusal.body.decode(), headers=headers)
        self.refusal = refusal


class TokenwardAuth:
    def __init__(
        self,
        store: Guard | StoreSpec = None,
        settings: Settings | None = None,
        *,
        authenticator: Authenticator | None = None,
        **options: Any,
    ) -> None:
        self.authenticator = resolve_authenticator(store, settings, authenticator, options)
        self.scheme = APIKeyHeader(
            name="Authorization",
            scheme_name="cpanelToken",
            description="`cpanel USER:TOKEN` or `whm USER:TOKEN`",
            auto_error=False,
        )

    def install(self, app: FastAPI) -> None:
        """Answer refusals with tokenward's own bodies, and flush last use at shutdown."""

        async def handler(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, Refused)
            refusal = exc.refusal
            return Response(refusal.body, refusal.status, headers=dict(refusal.headers))

        app.add_exception_handler(Refused, handler)
        app.router.on_shutdown.append(self.authenticator.aclose)

    def require(self, *acls: str) -> Callable[..., Awaitable[Identity]]:
        required = frozenset(acls)

        async def dependency(
            request: Request, _header: str | None = Security(self.scheme)
        ) -> Identity:
            decision = await self.authenticator.authenticate_async(
                request_from_scope(request.scope, self.authenticator.settings)
            )
            responses = self.authenticator.responses
            if decision.refusal is not None:
                raise Refused(decision.refusal)
            identity = decision.identity
            if identity is None:  # the route is public in the rules, but this view is not
                raise Refused(responses.unauthorized)
            if not grants(identity.acls, required):
                raise Refused(responses.forbidden)
            return identity

        return dependency
