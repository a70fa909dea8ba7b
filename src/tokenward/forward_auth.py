"""Forward authentication: let nginx ``auth_request``, Traefik ForwardAuth or Envoy's HTTP
ext_authz ask tokenward about a request it is about to proxy.

The proxy sends the original request's headers; the original method and URI come from
``X-Original-Method``/``X-Original-URI`` (nginx) or ``X-Forwarded-Method``/``X-Forwarded-Uri``
(Traefik), and are believed only from trusted proxies, as are the client address and scheme
(read by the same rule as everywhere: ``Settings.proxy_header``). The URI is taken as the
backend will receive it, undecoded: its path is judged in every reading a backend might make
(``tokenward.core.paths``), and a URI that is not origin-form is refused. The answer is 200
with the identity in ``X-Tokenward-*`` response headers (the proxy copies them to the
upstream), or tokenward's own 400/401/403/503/429.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING

from tokenward.asgi import request_from_scope
from tokenward.asgi_io import Receive, Scope, Send, send_response
from tokenward.authenticator import Authenticator, Decision
from tokenward.core.network import parse_address
from tokenward.core.request import RequestInfo
from tokenward.wsgi import request_from_environ

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "ForwardAuthASGI",
    "ForwardAuthWSGI",
    "forwarded_request",
    "identity_headers",
    "uri_path",
]

_METHOD_HEADERS = ("x-original-method", "x-forwarded-method")
_URI_HEADERS = ("x-original-uri", "x-forwarded-uri")


def forwarded_request(
    request: RequestInfo, headers: Mapping[str, str], authenticator: Authenticator
) -> RequestInfo:
    """The request the proxy is asking about, rebuilt from its headers when it is trusted."""
    peer = parse_address(request.peer)
    networks = authenticator.settings.proxy_networks
    if peer is None or not any(peer in network for network in networks):
        return request
    method = next((headers[h] for h in _METHOD_HEADERS if h in headers), request.method)
    uri = next((headers[h] for h in _URI_HEADERS if h in headers), None)
    return dataclasses.replace(
        request, method=method.upper(), path=request.path if uri is None else uri_path(uri)
    )


def uri_path(uri: str) -> str:
    """The path of a request-target, exactly as sent: no decoding, no normalising (that is
    ``core.paths``' job, in every reading). Not ``urlsplit``: it reads ``//a/b`` as host
    ``a``. An absolute-form or asterisk target keeps its text and is refused as not
    origin-form."""
    return uri.partition("?")[0].partition("#")[0]


def identity_headers(decision: Decision) -> list[tuple[str, str]]:
    identity = decision.identity
    if identity is None:
        return [("content-length", "0")]
    return [
        ("content-length", "0"),
        ("x-tokenward-user", identity.user),
        ("x-tokenward-realm", identity.realm.value),
        ("x-tokenward-token", identity.token_name),
        ("x-tokenward-acls", ",".join(sorted(identity.acls))),
    ]


class ForwardAuthASGI:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        base = request_from_scope(scope, self.authenticator.settings)
        request = forwarded_request(base, headers, self.authenticator)
        decision = await self.authenticator.authenticate_async(request)
        await send_response(send, *_answer(decision))


class ForwardAuthWSGI:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        base = request_from_environ(environ, self.authenticator.settings)
        decision = self.authenticator.authenticate(
            forwarded_request(base, headers, self.authenticator)
        )
        status, response_headers, body = _answer(decision)
        start_response(f"{status} {HTTPStatus(status).phrase}", response_headers)
        return [body]


def _answer(decision: Decision) -> tuple[int, list[tuple[str, str]], bytes]:
    if decision.refusal is not None:
        response = decision.refusal
        return response.status, list(response.headers), response.body
    return 200, identity_headers(decision), b""
