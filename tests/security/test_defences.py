"""Brute-force budget, HTTPS-only, proxy spoofing and failing closed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest
import webtest

from tokenward import (
    Authenticator,
    FailureReason,
    MemoryStore,
    RequestInfo,
    StoreError,
    TokenRecord,
    TokenwardWSGIMiddleware,
)
from tokenward.audit import AuditEvent
from tokenward.core.network import parse_address
from tokenward.guard import Guard
from tokenward.limits import MemoryFailureLimiter, budget_key
from tokenward.testing import FrozenClock, TokenFactory, fast_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

WRONG = "cpanel alice:" + "W" * 32


def ok_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def client(auth: Authenticator, address: str) -> webtest.TestApp:
    middleware = TokenwardWSGIMiddleware(ok_app, authenticator=auth)
    return webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": address})


@pytest.fixture
def limited(store: MemoryStore, clock: FrozenClock) -> Authenticator:
    settings = fast_settings(max_failures=3, failure_window=60, trusted_proxies=("10.0.0.0/8",))
    return Guard(store, settings, clock=clock, background_flush=False).authenticator


def test_failures_past_the_budget_get_429_with_retry_after(limited: Authenticator) -> None:
    attacker = client(limited, "203.0.113.9")
    for _ in range(3):
        attacker.get("/", headers={"Authorization": WRONG}, status=401)
    refused = attacker.get("/", headers={"Authorization": WRONG}, status=429)
    assert refused.headers["Retry-After"] == "60"


def test_budget_spares_successes_and_other_addresses(
    limited: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint()
    attacker = client(limited, "203.0.113.9")
    for _ in range(5):
        attacker.get("/", headers={"Authorization": WRONG}, expect_errors=True)
    attacker.get("/", headers=token.headers, status=200)  # same address, valid token
    client(limited, "198.51.100.4").get("/", headers={"Authorization": WRONG}, status=401)


def test_budget_refills_after_its_window(limited: Authenticator, clock: FrozenClock) -> None:
    attacker = client(limited, "203.0.113.9")
    for _ in range(4):
        attacker.get("/", headers={"Authorization": WRONG}, expect_errors=True)
    clock.advance(59)
    assert (
        attacker.get("/", headers={"Authorization": WRONG}, status=429).headers["Retry-After"]
        == "1"
    )
    clock.advance(1)
    attacker.get("/", headers={"Authorization": WRONG}, status=401)


def test_missing_header_and_missing_acl_do_not_spend_the_budget(limited: Authenticator) -> None:
    visitor = client(limited, "203.0.113.9")
    for _ in range(10):
        visitor.get("/", status=401)
    visitor.get("/", headers={"Authorization": WRONG}, status=401)


def test_forged_forwarded_for_cannot_spread_failures_over_fake_addresses(
    limited: Authenticator,
) -> None:
    attacker = client(limited, "203.0.113.9")
    for i in range(3):
        forged = {"Authorization": WRONG, "X-Forwarded-For": f"192.0.2.{i}"}
        attacker.get("/", headers=forged, status=401)
    forged = {"Authorization": WRONG, "X-Forwarded-For": "192.0.2.200"}
    attacker.get("/", headers=forged, status=429)


def test_forged_forwarded_for_cannot_satisfy_an_allow_list(
    limited: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint(whitelist_ips=["192.0.2.0/24"])
    forged = {**token.headers, "X-Forwarded-For": "192.0.2.1", "Forwarded": "for=192.0.2.1"}
    client(limited, "203.0.113.9").get("/", headers=forged, status=401)
    client(limited, "10.0.0.5").get("/", headers=forged, status=200)  # a trusted proxy


def test_ipv6_attackers_are_counted_per_64() -> None:
    first = parse_address("2001:db8:1:2::1")
    second = parse_address("2001:db8:1:2:ffff::9")
    assert budget_key(first) == budget_key(second) == "2001:db8:1:2::/64"
    limiter = MemoryFailureLimiter(1, 60, max_keys=2)
    assert limiter.record_failure("a", 0) == 0
    assert limiter.record_failure("a", 1) == 59
    limiter.record_failure("b", 1)
    limiter.record_failure("c", 1)  # past max_keys: the oldest keys go, the dict stays bounded
    assert len(limiter._windows) <= 2


@pytest.fixture
def https_only(store: MemoryStore, clock: FrozenClock) -> tuple[Authenticator, list[AuditEvent]]:
    events: list[AuditEvent] = []
    settings = fast_settings(https_only=True, trusted_proxies=("10.0.0.0/8",))
    auth = Guard(
        store, settings, clock=clock, audit=events.append, background_flush=False
    ).authenticator
    return auth, events


def test_https_only_refuses_a_token_sent_over_http_and_says_it_may_be_exposed(
    https_only: tuple[Authenticator, list[AuditEvent]], factory: TokenFactory
) -> None:
    auth, events = https_only
    token = factory.mint()
    decision = auth.authenticate(RequestInfo("GET", "/", (token.header,), "203.0.113.9"))
    assert decision.reason is FailureReason.INSECURE_TRANSPORT
    assert "exposed" in events[-1].detail
    secure = RequestInfo("GET", "/", (token.header,), "203.0.113.9", scheme="https")
    assert auth.authenticate(secure).allowed
    wss = RequestInfo("GET", "/", (token.header,), "203.0.113.9", scheme="wss")
    assert auth.authenticate(wss).allowed


def test_https_only_trusts_forwarded_proto_only_from_trusted_proxies(
    https_only: tuple[Authenticator, list[AuditEvent]], factory: TokenFactory
) -> None:
    auth, _ = https_only
    token = factory.mint()
    headers = {**token.headers, "X-Forwarded-Proto": "https"}
    client(auth, "203.0.113.9").get("/", headers=headers, status=401)
    client(auth, "10.0.0.5").get("/", headers=headers, status=200)


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, digest: str) -> TokenRecord | None:
        if self.down:
            raise StoreError("connection refused")
        return super().get(digest)


def test_store_outage_fails_closed_and_recovers_without_a_restart(clock: FrozenClock) -> None:
    store = FlakyStore()
    token = TokenFactory(store, clock).mint()
    auth = Guard(store, fast_settings(), clock=clock, background_flush=False).authenticator
    app = client(auth, "192.0.2.1")
    app.get("/", headers=token.headers, status=200)
    store.down = True
    assert app.get("/", headers=token.headers, status=503).headers["Retry-After"] == "5"
    store.down = False
    app.get("/", headers=token.headers, status=200)


def test_an_unexpected_store_exception_fails_closed_too(clock: FrozenClock) -> None:
    class Buggy(MemoryStore):
        def get(self, digest: str) -> TokenRecord | None:
            raise KeyError(digest)

    auth = Guard(Buggy(), fast_settings(), clock=clock, background_flush=False).authenticator
    client(auth, "192.0.2.1").get("/", headers={"Authorization": WRONG}, status=503)
