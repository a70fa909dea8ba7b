from __future__ import annotations

from collections.abc import Callable

import pytest
import webtest
from starlette.testclient import TestClient

from tokenward import Authenticator, MemoryStore, Rule
from tokenward.forward_auth import ForwardAuthASGI, ForwardAuthWSGI
from tokenward.guard import Guard
from tokenward.testing import FrozenClock, TokenFactory, fast_settings


@pytest.fixture
def auth(store: MemoryStore, clock: FrozenClock) -> Authenticator:
    settings = fast_settings(
        rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")),
        trusted_proxies=("127.0.0.0/8",),
    )
    return Guard(store, settings, clock=clock, background_flush=False).authenticator


def asgi_status(
    auth: Authenticator, peer: str, headers: dict[str, str]
) -> tuple[int, dict[str, str]]:
    client = TestClient(ForwardAuthASGI(auth), client=(peer, 50000))
    response = client.get("/auth", headers=headers)
    return response.status_code, dict(response.headers)


def wsgi_status(
    auth: Authenticator, peer: str, headers: dict[str, str]
) -> tuple[int, dict[str, str]]:
    app = webtest.TestApp(ForwardAuthWSGI(auth), extra_environ={"REMOTE_ADDR": peer})
    response = app.get("/auth", headers=headers, expect_errors=True)
    return response.status_int, {k.lower(): v for k, v in response.headerlist}


Ask = Callable[[Authenticator, str, dict[str, str]], tuple[int, dict[str, str]]]
SHELLS = [pytest.param(asgi_status, id="asgi"), pytest.param(wsgi_status, id="wsgi")]


@pytest.mark.parametrize("call", SHELLS)
def test_trusted_proxy_asks_about_the_original_uri_and_gets_the_identity(
    auth: Authenticator, factory: TokenFactory, call: Ask
) -> None:
    token = factory.mint("alice", "deploy", acls=["edit-dns"])
    ask = {**token.headers, "X-Original-URI": "/dns/zones?x=1", "X-Original-Method": "GET"}
    status, headers = call(auth, "127.0.0.1", ask)
    assert status == 200
    assert headers["x-tokenward-user"] == "alice"
    assert headers["x-tokenward-token"] == "deploy"
    assert headers["x-tokenward-acls"] == "edit-dns"


@pytest.mark.parametrize("call", SHELLS)
def test_route_rules_apply_to_the_original_uri(
    auth: Authenticator, factory: TokenFactory, call: Ask
) -> None:
    token = factory.mint(acls=["list-accts"])
    forbidden = {**token.headers, "X-Forwarded-Uri": "/dns/zones"}
    assert call(auth, "127.0.0.1", forbidden)[0] == 403
    public = {"X-Original-URI": "/health"}
    assert call(auth, "127.0.0.1", public)[0] == 200
    status, headers = call(auth, "127.0.0.1", {"X-Original-URI": "/x"})
    assert status == 401
    assert "cpanel" in headers["www-authenticate"]


@pytest.mark.parametrize("call", SHELLS)
def test_an_untrusted_caller_cannot_choose_the_uri_or_the_address(
    auth: Authenticator, factory: TokenFactory, call: Ask
) -> None:
    token = factory.mint(whitelist_ips=["192.0.2.0/24"])
    claims = {**token.headers, "X-Original-URI": "/health", "X-Real-IP": "192.0.2.9"}
    assert call(auth, "203.0.113.5", claims)[0] == 401
    assert call(auth, "203.0.113.5", {"X-Original-URI": "/health"})[0] == 401
    assert call(auth, "127.0.0.1", claims)[0] == 200
