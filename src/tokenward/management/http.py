"""The cPanel-compatible management API over HTTP, as an ASGI app and a WSGI app.

``/execute/Tokens/<fn>`` takes a ``cpanel`` token, ``/json-api/<fn>`` a ``whm`` token; both
need the ``manage-api-tokens`` ACL (``all`` includes it), and nothing a caller does can reach
beyond its own rights (``TokenService`` enforces that with ``actor``). Parameters come from
the query string, a form body or a JSON object body.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tokenward.asgi import Receive, Scope, Send, request_from_scope
from tokenward.authenticator import Authenticator, Decision
from tokenward.core.responses import Response
from tokenward.core.settings import Rule, Settings
from tokenward.core.tokens import Realm
from tokenward.errors import ValidationError
from tokenward.management.cpanel_api import Params, uapi_call, whm_call
from tokenward.management.service import TokenService
from tokenward.wsgi import request_from_environ

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["MANAGEMENT_RULES", "ManagementASGI", "ManagementWSGI", "management_settings"]

MAX_BODY = 1 << 20
ALLOWED_METHODS = ("GET", "POST")
_NOT_ALLOWED_BODY = b'{"error": "method not allowed"}'
NOT_ALLOWED = Response(
    405,
    (
        ("content-type", "application/json"),
        ("allow", "GET, POST"),
        ("content-length", str(len(_NOT_ALLOWED_BODY))),
    ),
    _NOT_ALLOWED_BODY,
)
MANAGEMENT_RULES = (
    Rule.require("/execute", "manage-api-tokens"),
    Rule.require("/json-api", "manage-api-tokens"),
)


def management_settings(base: Settings | None = None) -> Settings:
    """``base`` with the management API's own route rules."""
    return dataclasses.replace(base or Settings(), rules=MANAGEMENT_RULES, default_access="token")


def parse_params(query: str, content_type: str, body: bytes) -> Params:
    params: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
    if not body:
        return params
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except ValueError:
            raise ValidationError("The request body is not valid JSON.") from None
        if not isinstance(decoded, dict):
            raise ValidationError("The JSON body must be an object.")
        for key, value in decoded.items():
            values = value if isinstance(value, list) else [value]
            params.setdefault(str(key), []).extend("" if v is None else str(v) for v in values)
    else:  # cPanel clients POST application/x-www-form-urlencoded
        for key, values in parse_qs(body.decode("latin-1"), keep_blank_values=True).items():
            params.setdefault(key, []).extend(values)
    return params


def dispatch(
    service: TokenService, decision: Decision, path: str, params: Params, refusal: Response
) -> tuple[int, dict[str, Any]] | Response:
    """Route an authenticated request to its API; a token of the wrong realm gets
    ``refusal`` (the authenticator's uniform 401)."""
    identity = decision.identity
    parts = path.strip("/").split("/")
    if identity is None:
        return 404, {"error": "not found"}
    if parts[0] == "execute" and len(parts) == 3:
        if identity.realm is not Realm.CPANEL:
            return refusal
        return uapi_call(service, identity, parts[1], parts[2], params)
    if parts[0] == "json-api" and len(parts) == 2:
        if identity.realm is not Realm.WHM:
            return refusal
        return whm_call(service, identity, parts[1], params)
    return 404, {"error": "not found"}


def _answer(
    outcome: tuple[int, dict[str, Any]] | Response,
) -> tuple[int, list[tuple[str, str]], bytes]:
    if isinstance(outcome, Response):
        return outcome.status, list(outcome.headers), outcome.body
    status, payload = outcome
    body = json.dumps(payload).encode()
    headers = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
        ("content-length", str(len(body))),
    ]
    return status, headers, body


class ManagementASGI:
    def __init__(self, service: TokenService, authenticator: Authenticator) -> None:
        self.service = service
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        outcome = await self._handle(scope, receive)
        status, headers, body = _answer(outcome)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, dict[str, Any]] | Response:
        if scope.get("method") not in ALLOWED_METHODS:
            return NOT_ALLOWED
        decision = await self.authenticator.authenticate_async(
            request_from_scope(scope, self.authenticator.settings)
        )
        if decision.response is not None:
            return decision.response
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return 413, {"error": "request body too large"}
            if not message.get("more_body"):
                break
        headers = dict(scope.get("headers", ()))
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        try:
            params = parse_params(
                scope.get("query_string", b"").decode("latin-1"), content_type, body
            )
        except ValidationError as exc:
            return 400, {"error": str(exc)}
        refusal = self.authenticator.responses.unauthorized
        return dispatch(self.service, decision, scope["path"], params, refusal)


class ManagementWSGI:
    def __init__(self, service: TokenService, authenticator: Authenticator) -> None:
        self.service = service
        self.authenticator = authenticator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = _answer(self._handle(environ))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def _handle(self, environ: WSGIEnvironment) -> tuple[int, dict[str, Any]] | Response:
        if environ.get("REQUEST_METHOD") not in ALLOWED_METHODS:
            return NOT_ALLOWED
        decision = self.authenticator.authenticate(
            request_from_environ(environ, self.authenticator.settings)
        )
        if decision.response is not None:
            return decision.response
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return 413, {"error": "request body too large"}
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            params = parse_params(
                environ.get("QUERY_STRING", ""), environ.get("CONTENT_TYPE", ""), body
            )
        except ValidationError as exc:
            return 400, {"error": str(exc)}
        refusal = self.authenticator.responses.unauthorized
        return dispatch(self.service, decision, environ.get("PATH_INFO", "/"), params, refusal)
