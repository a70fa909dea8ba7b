"""The standalone server behind ``tokenward serve``: one ASGI app that routes to

- ``/health``: liveness and store reachability (200 or 503);
- ``/openapi.json``: the OpenAPI document of the management API;
- ``/favicon.ico``: 204, so a browser's own request for it is no 401;
- ``/auth`` (and anything below it): the forward-auth endpoint for reverse proxies;
- ``/credentials/revoke``: where anyone reports leaked credentials (``build_server`` mounts it);
- the management API and the web page (``/tokens``), when they are mounted (``extra_routes``).

A management API path may start with a cPanel session's ``/cpsess<10 digits>`` (what
``create_user_session`` hands out, and what cPanel's own sample URLs carry): it is taken
off before routing and grants nothing, so the call still needs its token.

Pure ASGI: nothing here needs a framework, so ``tokenward serve`` only adds uvicorn.

The server writes its own access log (``tokenward.access``): the query string is left out,
since cPanel clients may put a token in it (``api_token_get_details?token=``), and every
value is escaped. ``tokenward serve`` turns the server's own access log off.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping

from tokenward.asgi import run_lifespan
from tokenward.asgi_io import ASGIApp, Message, Receive, Scope, Send, send_response
from tokenward.audit import printable
from tokenward.authenticator import Authenticator
from tokenward.core.crypto import Argon2Profile
from tokenward.core.formats import TokenFormat
from tokenward.core.network import ProxyHeader
from tokenward.core.settings import Rule, Settings
from tokenward.errors import StoreError
from tokenward.forward_auth import ForwardAuthASGI
from tokenward.guard import Guard
from tokenward.management.http import MANAGEMENT_RULES, ManagementASGI
from tokenward.management.openapi import openapi_document
from tokenward.management.revoke_endpoint import DEFAULT_BUDGET, RevokeEndpointASGI
from tokenward.management.web import TokenPageASGI
from tokenward.management.whm import SESSION_ORIGIN
from tokenward.metrics import Metrics
from tokenward.stores.base import TokenStore

__all__ = ["CPSESS", "LOOPBACK", "TokenwardServer", "build_server", "loggable_target", "origin"]

LOOPBACK = ("127.0.0.0/8", "::1/128")
access_log = logging.getLogger("tokenward.access")
# cPanel's session prefix, before the management API's paths only.
CPSESS = re.compile(r"/cpsess[0-9]{10}(?=/(?:execute|json-api)/)")
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


def build_server(
    store: TokenStore,
    *,
    rules: tuple[Rule, ...] = (),
    trusted_proxies: tuple[str, ...] = LOOPBACK,
    proxy_header: ProxyHeader = "x-real-ip",
    argon2: Argon2Profile | None = None,
    token_format: TokenFormat = "cpanel",  # noqa: S107 - a format name, not a secret
    leak_report_budget: tuple[int, float] = DEFAULT_BUDGET,
    metrics: Metrics | None = None,
) -> TokenwardServer:
    """Everything ``tokenward serve`` runs: forward auth (with ``rules`` for the proxied
    URIs), the cPanel-compatible management API at ``/execute`` and ``/json-api``, the
    token management web page at ``/tokens``, and leak reports at ``/credentials/revoke``
    (``leak_report_budget``: requests per window, in seconds, per client address).

    ``proxy_header`` defaults to ``X-Real-IP``, the one header nginx's ``auth_request``
    block sets for certain: the client's own ``X-Forwarded-For`` reaches an auth
    subrequest untouched unless the configuration overwrites it. ``metrics``: the guard's
    (``--metrics-port`` gives it ``PrometheusMetrics``)."""
    guard = Guard(
        store,
        Settings(
            rules=rules,
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            argon2=argon2 or Argon2Profile(),
            token_format=token_format,
        ),
        metrics=metrics,
    )
    # One guard: forward auth, the API and the page share one verification pool, one
    # last-use writer and one failure budget; only their route rules differ.
    manager = guard.authenticator_for(MANAGEMENT_RULES, "token")
    return TokenwardServer(
        guard.start().authenticator,
        extra_routes={
            "/": ManagementASGI(guard.service, manager),
            "/tokens": TokenPageASGI(guard.service, manager),
            "/credentials/revoke": RevokeEndpointASGI(guard, budget=leak_report_budget),
        },
    )


class TokenwardServer:
    def __init__(
        self, authenticator: Authenticator, extra_routes: Mapping[str, ASGIApp] | None = None
    ) -> None:
        self.authenticator = authenticator
        self.routes: dict[str, ASGIApp] = {"/auth": ForwardAuthASGI(authenticator)}
        self.routes.update(extra_routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self._route(scope, receive, send)
            return
        status = 0

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._route(scope, receive, noted)
        finally:
            client = scope.get("client")
            access_log.info(
                '%s - "%s %s" %d',
                printable(client[0] if client else "-"),
                printable(scope.get("method", "")),
                loggable_target(scope),
                status,
            )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        if scope["type"] == "http" and (session := CPSESS.match(path)):
            path = path[session.end() :]
            scope = {key: value for key, value in scope.items() if key != "raw_path"}
            scope["path"] = path
        if scope["type"] == "http" and path.startswith("/json-api/"):
            reset = SESSION_ORIGIN.set(origin(scope))
            try:
                await self._dispatch(scope, receive, send, path)
            finally:
                SESSION_ORIGIN.reset(reset)
            return
        await self._dispatch(scope, receive, send, path)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if scope["type"] == "http" and path == "/health":
            await self._health(send)
            return
        if scope["type"] == "http" and path == "/openapi.json":
            await _json(send, 200, openapi_document())
            return
        if scope["type"] == "http" and path == "/favicon.ico":
            # Browsers ask for it on their own, with no token: not a 401 (nor a logged refusal).
            headers = (("cache-control", "max-age=86400"),)
            await send_response(send, 204, headers, b"")
            return
        for prefix, app in sorted(self.routes.items(), key=lambda item: -len(item[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                # Mounted the ASGI way: the app sees the path below its prefix (so Envoy's
                # ext_authz, which appends the original path to /auth, is understood).
                inner = {
                    **scope,
                    "path": path[len(prefix.rstrip("/")) :] or "/",
                    "root_path": scope.get("root_path", "") + prefix.rstrip("/"),
                }
                await app(inner, receive, send)
                return
        if scope["type"] == "http":
            await _json(send, 404, {"error": "not found"})

    async def _health(self, send: Send) -> None:
        try:
            self.authenticator.store.get("0" * 32)
        except StoreError:
            await _json(send, 503, {"status": "store unavailable"})
            return
        await _json(send, 200, {"status": "ok"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Graceful: every authenticator, the mounted apps' too, writes its last-used times.
        inner = (getattr(app, "authenticator", None) for app in self.routes.values())
        mounted = [a for a in inner if isinstance(a, Authenticator)]
        reports = [app for app in self.routes.values() if isinstance(app, RevokeEndpointASGI)]

        async def receive_then_drain() -> Message:
            # Leak reports waiting are processed at shutdown, before the guards close.
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                for endpoint in reports:
                    await endpoint.aclose()
            return message

        await run_lifespan(receive_then_drain, send, self.authenticator, *mounted)


async def _json(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    headers = (("content-type", "application/json"), ("content-length", str(len(body))))
    await send_response(send, status, headers, body)


def origin(scope: Scope) -> str:
    """``scheme://host[:port]`` the request came to: its ``Host`` header when that is a
    plain host name or address, else the server's own address."""
    host = next((value for name, value in scope.get("headers", ()) if name == b"host"), b"")
    text = host.decode("latin-1")
    if not _HOST.fullmatch(text):
        server = scope.get("server") or ("localhost", None)
        name = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        text = name if server[1] is None else f"{name}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{text}"


def loggable_target(scope: Scope) -> str:
    """The request-target for a log line: the path, and ``?…`` for a query string, whose
    names and values may hold a secret (``?token=…``, or a bare ``?SECRET``)."""
    target = printable(scope.get("path", "/"))
    return target + "?…" if scope.get("query_string") else target
