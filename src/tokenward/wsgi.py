"""WSGI shell: environ in, ``RequestInfo`` to the core, a refusal or the wrapped app out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tokenward.authenticator import Authenticator
from tokenward.core.request import RequestInfo
from tokenward.core.settings import PUBLIC, Settings
from tokenward.factory import IDENTITY_KEY, resolve_authenticator
from tokenward.guard import Guard, StoreSpec

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["TokenwardWSGIMiddleware", "forwarding_from_environ", "request_from_environ"]


def forwarding_from_environ(
    environ: Mapping[str, Any], settings: Settings
) -> tuple[str | None, str | None]:
    """The configured forwarding header and ``X-Forwarded-Proto``, only when proxies are
    trusted (whether this peer is one is decided later, with the address)."""
    if not settings.proxy_networks:
        return None, None
    key = "HTTP_" + settings.proxy_header.upper().replace("-", "_")
    return environ.get(key), environ.get("HTTP_X_FORWARDED_PROTO")


def request_from_environ(environ: WSGIEnvironment, settings: Settings) -> RequestInfo:
    """``PATH_INFO`` is already the path below the mount point (``SCRIPT_NAME``)."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    forwarded, proto = forwarding_from_environ(environ, settings)
    return RequestInfo(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO", "") or "/",
        authorization=() if authorization is None else (authorization,),
        peer=environ.get("REMOTE_ADDR"),
        forwarded=forwarded,
        scheme=environ.get("wsgi.url_scheme", "http"),
        forwarded_proto=proto,
    )


class TokenwardWSGIMiddleware:
    """Wrap any WSGI app. The identity lands at ``environ["tokenward.identity"]`` and the
    user name at ``REMOTE_USER``. Rules match ``PATH_INFO`` (the path inside the app)."""

    def __init__(
        self,
        app: WSGIApplication,
        store: Guard | StoreSpec = None,
        settings: Settings | None = None,
        *,
        authenticator: Authenticator | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.authenticator = resolve_authenticator(store, settings, authenticator, options)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        authenticator = self.authenticator
        settings = authenticator.settings
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "") or "/"
        requirement = settings.requirement(method, path)
        if requirement == PUBLIC:  # no request copied, no header read
            return self.app(environ, start_response)
        decision = None
        authorization = environ.get("HTTP_AUTHORIZATION")
        if requirement is not None and requirement[0] == "token" and authorization is not None:
            decision = authenticator.warm(
                method,
                requirement[1],
                authorization=authorization.encode("utf-8", "surrogatepass"),
                peer=environ.get("REMOTE_ADDR"),
                forwarded=forwarding_from_environ(environ, settings)[0],
                scheme=environ.get("wsgi.url_scheme", "http"),
            )
        if decision is None:
            decision = authenticator.authenticate(request_from_environ(environ, settings))
        if decision.refusal is not None:
            response = decision.refusal
            start_response(response.status_line, list(response.headers))
            return [response.body]
        if decision.identity is not None:
            environ[IDENTITY_KEY] = decision.identity
            environ["REMOTE_USER"] = decision.identity.user
        return self.app(environ, start_response)

    def close(self) -> None:
        self.authenticator.close()
