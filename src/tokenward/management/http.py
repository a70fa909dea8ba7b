"""The cPanel-compatible management API over HTTP, as an ASGI app and a WSGI app.

``/execute/Tokens/<fn>`` takes a ``cpanel`` token, ``/json-api/<fn>`` a ``whm`` token; both
need the ``manage-api-tokens`` ACL (``all`` includes it), and nothing a caller does can reach
beyond its own rights (``TokenService`` enforces that with ``actor``). Parameters come from
the query string, a form body or a JSON object body, each bounded before it is parsed; the
APIs are told which came in the URL (a secret there reaches access logs, so they warn).

The ASGI app runs each call's work (store I/O, argon2 hashing) in a worker thread, so a slow
call never holds up the event loop's other requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tokenward.asgi import request_from_scope, route_path
from tokenward.asgi_io import BodyTooLargeError, Receive, Scope, Send, read_body, send_response
from tokenward.authenticator import Authenticator, Decision
from tokenward.core.responses import Refusal
from tokenward.core.settings import Rule, Settings
from tokenward.core.tokens import Realm
from tokenward.errors import ValidationError
from tokenward.management.cpanel_api import Params, uapi_call, whm_call
from tokenward.management.service import TokenService
from tokenward.wsgi import request_from_environ

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["MANAGEMENT_RULES", "ManagementASGI", "ManagementWSGI", "management_settings"]

MAX_BODY = 64 << 10  # bytes; a full update (100 IPv6 prefixes, every ACL) needs under 10 KiB
MAX_QUERY = MAX_BODY  # bytes of query string
MAX_FIELDS = 1024  # parameter values in one request, query and body together
MAX_VALUES = 256  # values of one parameter (an allow-list holds at most 100)
ALLOWED_METHODS = ("GET", "POST")
_NOT_ALLOWED_BODY = b'{"error": "method not allowed"}'
NOT_ALLOWED = Refusal(
    405,
    (
        ("content-type", "application/json"),
        ("allow", "GET, POST"),
        ("content-length", str(len(_NOT_ALLOWED_BODY))),
    ),
    _NOT_ALLOWED_BODY,
)
_TOO_LARGE = 413, {"error": f"request body too large (at most {MAX_BODY} bytes)"}
MANAGEMENT_RULES = (
    Rule.require("/execute", "manage-api-tokens"),
    Rule.require("/json-api", "manage-api-tokens"),
)


def management_settings(base: Settings | None = None) -> Settings:
    """``base`` with the management API's own route rules."""
    return dataclasses.replace(base or Settings(), rules=MANAGEMENT_RULES, default_access="token")


def parse_params(query: str, content_type: str, body: bytes) -> Params:
    """The request's parameters, refusing (``ValidationError``) more than ``MAX_FIELDS``
    values in all or ``MAX_VALUES`` for one name; forms are counted before they are parsed."""
    params = _form(query)
    if body and content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError("The request body is not valid JSON.") from None
        if not isinstance(decoded, dict):
            raise ValidationError("The JSON body must be an object.")
        lists = {str(k): v if isinstance(v, list) else [v] for k, v in decoded.items()}
        _check_counts(lists.items())  # before turning any value into a string
        for key, values in lists.items():
            params.setdefault(key, []).extend("" if v is None else str(v) for v in values)
    elif body:  # cPanel clients POST application/x-www-form-urlencoded
        for key, values in _form(body.decode("latin-1")).items():
            params.setdefault(key, []).extend(values)
    _check_counts(params.items())
    return params


def _form(text: str) -> dict[str, list[str]]:
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:  # parse_qs counts the fields before parsing any
        raise ValidationError(f"The request has more than {MAX_FIELDS} parameter values.") from None


def _check_counts(items: Iterable[tuple[str, list[Any]]]) -> None:
    total = 0
    for name, values in items:
        if len(values) > MAX_VALUES:
            raise ValidationError(f"The parameter “{name}” has more than {MAX_VALUES} values.")
        total += len(values) or 1
    if total > MAX_FIELDS:
        raise ValidationError(f"The request has more than {MAX_FIELDS} parameter values.")


def respond(
    service: TokenService,
    decision: Decision,
    *,
    path: str,
    query: str,
    content_type: str,
    body: bytes,
    refusal: Refusal,
) -> tuple[int, dict[str, Any]] | Refusal:
    """Parse the (size-checked) request and dispatch it: the blocking part of a call."""
    if len(query) > MAX_QUERY:
        return 414, {"error": f"query string too long (at most {MAX_QUERY} bytes)"}
    try:
        params = parse_params(query, content_type, body)
    except ValidationError as exc:
        return 400, {"error": str(exc)}
    in_url = frozenset(_form(query)) if query else frozenset()  # bounded, parsed once already
    return dispatch(service, decision, path, params, refusal, in_url=in_url)


def dispatch(
    service: TokenService,
    decision: Decision,
    path: str,
    params: Params,
    refusal: Refusal,
    *,
    in_url: frozenset[str] = frozenset(),
) -> tuple[int, dict[str, Any]] | Refusal:
    """Route an authenticated request to its API; a token of the wrong realm gets
    ``refusal`` (the authenticator's uniform 401). ``in_url``: the parameter names that
    came in the query string."""
    identity = decision.identity
    parts = path.strip("/").split("/")
    if identity is None:
        return 404, {"error": "not found"}
    if parts[0] == "execute" and len(parts) == 3:
        if identity.realm is not Realm.CPANEL:
            return refusal
        return uapi_call(service, identity, parts[1], parts[2], params, in_url=in_url)
    if parts[0] == "json-api" and len(parts) == 2:
        if identity.realm is not Realm.WHM:
            return refusal
        return whm_call(service, identity, parts[1], params, in_url=in_url)
    return 404, {"error": "not found"}


def _answer(
    outcome: tuple[int, dict[str, Any]] | Refusal,
) -> tuple[int, list[tuple[str, str]], bytes]:
    if isinstance(outcome, Refusal):
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
        await send_response(send, *_answer(await self._handle(scope, receive)))

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]] | Refusal:
        if scope.get("method") not in ALLOWED_METHODS:
            return NOT_ALLOWED
        decision = await self.authenticator.authenticate_async(
            request_from_scope(scope, self.authenticator.settings)
        )
        if decision.refusal is not None:
            return decision.refusal
        headers = dict(scope.get("headers", ()))
        try:
            body = await read_body(receive, MAX_BODY, scope)
        except BodyTooLargeError:
            return _TOO_LARGE
        return await asyncio.to_thread(
            respond,
            self.service,
            decision,
            path=route_path(scope),  # below root_path: the API works under any mount point
            query=scope.get("query_string", b"").decode("latin-1"),
            content_type=headers.get(b"content-type", b"").decode("latin-1"),
            body=body,
            refusal=self.authenticator.responses.unauthorized,
        )


class ManagementWSGI:
    def __init__(self, service: TokenService, authenticator: Authenticator) -> None:
        self.service = service
        self.authenticator = authenticator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = _answer(self._handle(environ))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def _handle(self, environ: WSGIEnvironment) -> tuple[int, dict[str, Any]] | Refusal:
        if environ.get("REQUEST_METHOD") not in ALLOWED_METHODS:
            return NOT_ALLOWED
        decision = self.authenticator.authenticate(
            request_from_environ(environ, self.authenticator.settings)
        )
        if decision.refusal is not None:
            return decision.refusal
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return _TOO_LARGE
        if length < 0:  # read(-1) would read everything the client sends
            return 400, {"error": "invalid Content-Length"}
        body = environ["wsgi.input"].read(length) if length else b""
        return respond(
            self.service,
            decision,
            path=environ.get("PATH_INFO", "/"),
            query=environ.get("QUERY_STRING", ""),
            content_type=environ.get("CONTENT_TYPE", ""),
            body=body,
            refusal=self.authenticator.responses.unauthorized,
        )
