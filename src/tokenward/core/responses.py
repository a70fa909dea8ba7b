"""The only responses tokenward writes itself: built once, identical for every failure.

Bodies never carry a reason: a 401 for an unknown user is byte-for-byte the 401 for an
expired token, so a client learns nothing from which one it got.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["Refusal", "Responses"]


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """One of tokenward's own answers to a request it refuses: status, headers, body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {_PHRASES[self.status]}"


_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def _json(status: int, message: str, *extra: tuple[str, str]) -> Refusal:
    body = json.dumps({"error": message}).encode()
    headers = (
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
        *extra,
    )
    return Refusal(status, headers, body)


class Responses:
    """The refusals, made once per configuration."""

    def __init__(self, realm_label: str = "tokenward", retry_after: int = 5) -> None:
        challenge = ", ".join(f'{scheme} realm="{realm_label}"' for scheme in ("cpanel", "whm"))
        self.unauthorized = _json(401, "unauthorized", ("www-authenticate", challenge))
        self.forbidden = _json(403, "forbidden")
        self.bad_request = _json(400, "bad request")
        self.unavailable = _json(503, "service unavailable", ("retry-after", str(retry_after)))

    def too_many_requests(self, retry_after: int) -> Refusal:
        return _json(429, "too many requests", ("retry-after", str(retry_after)))
