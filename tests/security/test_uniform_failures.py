"""Every authentication failure looks the same from the outside."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterable

import pytest
import webtest

from tokenward import (
    MemoryStore,
    Owner,
    Realm,
    TokenwardWSGIMiddleware,
)
from tokenward.guard import Guard
from tokenward.testing import FrozenClock, TokenFactory, fast_settings


class Directory:
    def owner(self, realm: Realm, user: str) -> Owner | None:
        return Owner(active=user != "suspended")


def ok_app(environ: object, start_response: webtest.app.StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.fixture
def scenario(
    store: MemoryStore, clock: FrozenClock
) -> tuple[TokenwardWSGIMiddleware, dict[str, str]]:
    factory = TokenFactory(store, clock)
    live = factory.mint("alice")
    expired = factory.mint("alice", expires_in=5)
    fenced = factory.mint("alice", whitelist_ips=["198.51.100.0/24"])
    suspended = factory.mint("suspended")
    revoked = factory.mint("alice")
    auth = Guard(
        store,
        fast_settings(),
        clock=clock,
        directory=Directory(),
        audit=None,
        background_flush=False,
    ).authenticator
    middleware = TokenwardWSGIMiddleware(ok_app, authenticator=auth)
    app = webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    for token in (live, expired, fenced, suspended, revoked):  # warm every path
        app.get("/", headers=token.headers, expect_errors=True)
    store.delete([revoked.created.record.id])
    clock.advance(10)
    cases = {
        "unknown-user": f"cpanel nobody:{live.secret[::-1]}",
        "wrong-token": "cpanel alice:" + "Q" * 32,
        "revoked": revoked.header,
        "expired": expired.header,
        "address-not-allowed": fenced.header,
        "suspended-owner": suspended.header,
    }
    return middleware, cases


def test_failures_give_byte_identical_responses(
    scenario: tuple[TokenwardWSGIMiddleware, dict[str, str]],
) -> None:
    middleware, cases = scenario
    app = webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    answers = {
        name: app.get("/", headers={"Authorization": header}, status=401)
        for name, header in cases.items()
    }
    shapes = {(r.status, tuple(sorted(r.headerlist)), r.body) for r in answers.values()}
    assert len(shapes) == 1


def _median_ns(middleware: TokenwardWSGIMiddleware, cases: dict[str, str]) -> dict[str, float]:
    """Interleaved, shuffled rounds so drift and noise hit every case alike."""
    samples: dict[str, list[int]] = {name: [] for name in cases}
    names = list(cases)
    rng = random.Random(7)

    def start_response(*_: object) -> None:
        return None

    for _ in range(3000):
        rng.shuffle(names)
        for name in names:
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/",
                "REMOTE_ADDR": "192.0.2.1",
                "HTTP_AUTHORIZATION": cases[name],
                "wsgi.url_scheme": "http",
            }
            started = time.perf_counter_ns()
            middleware(environ, start_response)  # type: ignore[arg-type]
            samples[name].append(time.perf_counter_ns() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def test_failures_an_outsider_can_cause_take_indistinguishable_time(
    scenario: tuple[TokenwardWSGIMiddleware, dict[str, str]],
) -> None:
    """Without the secret, a caller can only reach the unknown-digest path: whether the user
    exists, or the token was revoked, changes nothing in what is computed."""
    middleware, cases = scenario
    outsider = {k: cases[k] for k in ("unknown-user", "wrong-token", "revoked")}
    medians = _median_ns(middleware, outsider)
    low, high = min(medians.values()), max(medians.values())
    assert (high - low) / low < 0.15, medians


def test_no_failure_runs_argon2(
    scenario: tuple[TokenwardWSGIMiddleware, dict[str, str]],
) -> None:
    """Standing is checked before the hash, so a refused token never costs milliseconds."""
    middleware, cases = scenario
    auth = middleware.authenticator
    auth.verifications.forget()  # forget the warm-up: every case is cold again
    before = auth.verifications.computations
    app = webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    for header in cases.values():
        app.get("/", headers={"Authorization": header}, status=401)
    assert auth.verifications.computations == before
