"""Whole requests with hostile headers through both shells: never a 5xx, never an exception,
and a token with any one character changed never authenticates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward import (
    MemoryStore,
    Rule,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
)
from tokenward.core.tokens import SECRET_ALPHABET
from tokenward.guard import Guard
from tokenward.testing import FrozenClock, TokenFactory, fast_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

STORE = MemoryStore()
CLOCK = FrozenClock()
TOKEN = TokenFactory(STORE, CLOCK).mint("alice", "fuzz", whitelist_ips=["192.0.2.0/24", "::/0"])
AUTH = Guard(
    STORE,
    fast_settings(
        rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")),
        trusted_proxies=("10.0.0.0/8",),
        max_failures=1000,
    ),
    clock=CLOCK,
    audit=None,
    background_flush=False,
).authenticator


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


WSGI = TokenwardWSGIMiddleware(wsgi_app, authenticator=AUTH)
ASGI = TokenwardASGIMiddleware(asgi_app, authenticator=AUTH)

latin1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=80)
header_values = st.one_of(
    latin1,
    st.builds(
        lambda s, u, t: f"{s} {u}:{t}", st.sampled_from(["cpanel", "WHM", "x"]), latin1, latin1
    ),
    st.just(TOKEN.header),
)


def call_wsgi(environ: dict[str, Any]) -> int:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)

    body = b"".join(WSGI(environ, start_response))
    assert body
    return int(statuses[0].split()[0])


def call_asgi(scope: dict[str, Any]) -> int:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(ASGI(scope, receive, send))
    return int(sent[0]["status"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    authorization=st.lists(header_values, max_size=3),
    path=st.one_of(st.sampled_from(["/", "/health", "/dns/zones", "/health/../dns"]), latin1),
    method=st.sampled_from(["GET", "POST", "get", "DELETE", ""]),
    peer=st.one_of(st.none(), latin1, st.sampled_from(["10.0.0.1", "192.0.2.5", "::1"])),
    forwarded=st.one_of(st.none(), latin1),
)
def test_hostile_requests_never_cause_a_server_error(
    authorization: list[str], path: str, method: str, peer: str | None, forwarded: str | None
) -> None:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.url_scheme": "http",
    }
    if authorization:
        environ["HTTP_AUTHORIZATION"] = ", ".join(authorization)
    if peer is not None:
        environ["REMOTE_ADDR"] = peer
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert call_wsgi(environ) in (200, 400, 401, 403, 429)

    headers = [(b"authorization", v.encode("latin-1")) for v in authorization]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode("latin-1")))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "client": None if peer is None else (peer, 1234),
        "scheme": "http",
    }
    assert call_asgi(scope) in (200, 400, 401, 403, 429)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 31), replacement=st.sampled_from(SECRET_ALPHABET))
def test_a_token_with_one_character_changed_never_authenticates(
    position: int, replacement: str
) -> None:
    secret = TOKEN.secret
    mutated = secret[:position] + replacement + secret[position + 1 :]
    header = f"cpanel alice:{mutated}"
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_AUTHORIZATION": header,
        "wsgi.url_scheme": "http",
    }
    expected = 200 if mutated == secret else 401
    assert call_wsgi(environ) == expected
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "client": ("192.0.2.1", 1),
        "headers": [(b"authorization", header.encode())],
    }
    assert call_asgi(scope) == expected


def test_atheris_harness_runs_clean() -> None:
    """The coverage-guided harness in fuzz/ runs (briefly here; long runs are manual)."""
    import subprocess
    import sys
    from pathlib import Path

    harness = Path(__file__).parents[2] / "fuzz" / "fuzz_header.py"
    result = subprocess.run(
        [sys.executable, str(harness), "-atheris_runs=20000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Done 20000" in result.stderr
