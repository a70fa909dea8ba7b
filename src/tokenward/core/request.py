"""What the protocol shells hand the core about one request."""

from __future__ import annotations

import dataclasses

__all__ = ["RequestInfo"]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestInfo:
    """The few facts authentication needs, copied out of a WSGI environ or ASGI scope.

    ``authorization`` holds every Authorization value the request carried (several are
    refused). ``forwarded`` is the configured proxy header's value and ``forwarded_proto`` the
    ``X-Forwarded-Proto`` value; shells fill both only when trusted proxies are configured.
    """

    method: str
    path: str
    authorization: tuple[str, ...] = ()
    peer: str | None = None
    forwarded: str | None = None
    scheme: str = "http"
    forwarded_proto: str | None = None
