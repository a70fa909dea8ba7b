"""HTTP for the web page without a framework: the request as the handlers see it, form
bodies, cookies, the same-origin check, and responses that always carry the security headers.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

from tokenward.asgi import request_from_scope
from tokenward.asgi_io import BodyTooLargeError, Receive, Scope, Send, read_body, send_response
from tokenward.core.network import Address
from tokenward.core.request import RequestInfo
from tokenward.core.settings import Settings

__all__ = [
    "MAX_FORM_BYTES",
    "SECURITY_HEADERS",
    "Fields",
    "FormError",
    "Reply",
    "WebRequest",
    "cookie",
    "read_form",
    "send_reply",
]

MAX_FORM_BYTES = 64 * 1024  # 100 allow-list entries and every ACL fit many times over

# Self only, no inline script or style, never framed, never a Referer (URLs carry token names).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
)

Fields = dict[str, list[str]]


class FormError(Exception):
    """The body cannot be a form from this page (too large, wrong type)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True, slots=True)
class WebRequest:
    """One request, as the handlers see it. ``path`` is below the mount point, ``root``
    the mount point itself (``""`` at the server root), so every link is ``root + …``."""

    method: str
    path: str
    root: str
    query: Fields
    headers: dict[str, str]
    cookies: dict[str, str]
    info: RequestInfo
    secure: bool
    client: Address | None  # the client's address, forwarding headers only from trusted proxies

    @classmethod
    def from_scope(cls, scope: Scope, settings: Settings) -> WebRequest:
        root = str(scope.get("root_path", "")).rstrip("/")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = (
                f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
            )
        info = request_from_scope(scope, settings)  # info.path: the path below root_path
        scheme = settings.client_scheme(info)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return cls(
            method=str(scope.get("method", "GET")).upper(),
            path=info.path,
            root=root,
            query=query,
            headers=headers,
            cookies=_parse_cookies(headers.get("cookie", "")),
            info=info,
            secure=scheme in ("https", "wss"),
            client=settings.client_address(info),
        )

    @property
    def in_clear(self) -> bool:
        """Plain HTTP from another machine: what is typed here can be read on the way."""
        return not self.secure and (self.client is None or not self.client.is_loopback)

    def arg(self, name: str) -> str:
        values = self.query.get(name)
        return values[0] if values else ""

    def same_origin(self) -> bool:
        """False when a browser tells us the request comes from another site.

        Browsers send ``Origin`` and ``Sec-Fetch-Site`` on every POST; a client that sends
        neither is not a browser, and the CSRF token still applies to it. Only host and port
        of an origin are compared: behind a TLS-terminating proxy the scheme we see may
        differ.
        """
        site = self.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = self.headers.get("origin")
        if origin is None:
            return True
        if origin == "null":
            # Our own forms post with Origin "null" under Referrer-Policy: no-referrer;
            # Fetch Metadata, which a page cannot forge, then tells ours from the rest.
            return site == "same-origin"
        host = self.headers.get("host", "")
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # includes the opaque origin "null" of sandboxed documents
        return _netloc(parts.netloc) == _netloc(host)


def _netloc(value: str) -> str:
    value = value.strip().lower()
    for default in (":80", ":443"):
        if value.endswith(default):
            return value[: -len(default)]
    return value


def _parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


async def read_form(scope: Scope, receive: Receive) -> Fields:
    """An ``application/x-www-form-urlencoded`` body (what every form here posts)."""
    content_type = ""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
    try:
        body = await read_body(receive, MAX_FORM_BYTES, scope)
    except BodyTooLargeError:
        raise FormError(413, "The form is too large.") from None
    if body and not content_type.startswith("application/x-www-form-urlencoded"):
        raise FormError(415, "Only HTML form posts are accepted here.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError(400, "The form is not valid UTF-8.") from None
    return parse_qs(text, keep_blank_values=True)


def cookie(
    name: str, value: str, *, path: str, secure: bool, max_age: int | None = None
) -> tuple[str, str]:
    """A ``Set-Cookie`` header: always HttpOnly and SameSite=Strict, Secure over HTTPS."""
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return ("set-cookie", "; ".join(parts))


@dataclasses.dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    cache: str = "no-store"  # pages show token details; never keep them in a cache

    @classmethod
    def html(cls, status: int, page: str, *headers: tuple[str, str]) -> Reply:
        return cls(status, page.encode("utf-8"), headers=list(headers))

    @classmethod
    def redirect(cls, location: str, *headers: tuple[str, str]) -> Reply:
        return cls(303, headers=[("location", location), *headers])


async def send_reply(send: Send, reply: Reply, *, head: bool = False) -> None:
    headers = [
        ("content-type", reply.content_type),
        ("content-length", str(len(reply.body))),
        ("cache-control", reply.cache),
        *SECURITY_HEADERS,
        *reply.headers,
    ]
    await send_response(send, reply.status, headers, b"" if head else reply.body)
