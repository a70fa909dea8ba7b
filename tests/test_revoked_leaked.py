"""Revoked in place ("reported leaked"): the record is kept, marked, so its owner sees it;
every request with it is refused from the very next one, whatever the store or the path."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tokenward import (
    Authenticator,
    FailureReason,
    MemoryStore,
    Realm,
    RequestInfo,
    Settings,
    SQLiteStore,
    TokenStore,
    ValidationError,
)
from tokenward.audit import AuditEvent
from tokenward.core.policy import UNRESTRICTED, check_standing
from tokenward.core.tokens import TokenStatus, token_status
from tokenward.errors import AuthenticationError
from tokenward.guard import Guard
from tokenward.management.service import TokenService
from tokenward.stores.cache import CachedStore
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, TokenFactory
from tokenward.testing.conformance import record

Authenticate = Callable[[Authenticator, RequestInfo], FailureReason | None]


def request(token: MintedToken) -> RequestInfo:
    return RequestInfo("GET", "/api", (token.header,), "192.0.2.10")


def sync_path(auth: Authenticator, req: RequestInfo) -> FailureReason | None:
    decision = auth.authenticate(req)
    return None if decision.allowed else decision.reason


def async_path(auth: Authenticator, req: RequestInfo) -> FailureReason | None:
    decision = asyncio.run(auth.authenticate_async(req))
    return None if decision.allowed else decision.reason


PATHS = [pytest.param(sync_path, id="sync"), pytest.param(async_path, id="async")]


# -- the core --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "revoked_at", "status"),
    [
        pytest.param(None, 5, TokenStatus.REVOKED, id="revoked"),
        pytest.param(999, 5, TokenStatus.REVOKED, id="revoked-and-expired"),
        pytest.param(1000, 5, TokenStatus.REVOKED, id="revoked-and-expiring"),
        pytest.param(999, None, TokenStatus.EXPIRED, id="expired-only"),
        pytest.param(None, None, TokenStatus.ACTIVE, id="neither"),
    ],
)
def test_revoked_outranks_every_other_status(
    expires_at: int | None, revoked_at: int | None, status: TokenStatus
) -> None:
    assert token_status(expires_at, 1000.0, revoked_at) is status
    marked = record(expires_at=expires_at, revoked_at=revoked_at)
    assert marked.status(1000.0) is status
    assert marked.revoked is (revoked_at is not None)


def test_standing_refuses_a_revoked_record_before_judging_anything_else() -> None:
    """Wrong user, unknown owner, expired, disallowed address: revoked is still the reason."""
    marked = record(
        expires_at=1, whitelist_ips=("198.51.100.0/24",), revoked_at=5, revoked_reason="leak"
    )
    with pytest.raises(AuthenticationError) as refused:
        check_standing(
            marked, user="mallory", used_previous_secret=True, owner=None, now=10.0, client=None
        )
    assert refused.value.reason is FailureReason.REVOKED
    check_standing(  # the same record not revoked passes once the rest is right
        record(),
        user="alice",
        used_previous_secret=False,
        owner=UNRESTRICTED,
        now=10.0,
        client=None,
    )


# -- the request path, through every store view ------------------------------------------


class Feed:
    """A change channel the test announces on (a NOTIFY or a publish, in a real store)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.on_change: Callable[[], None] = lambda: None

    def listen(
        self, on_ready: Callable[[], None], on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        self.on_change = on_change
        on_ready()
        self.ready.set()
        stop.wait()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def guarded(store: TokenStore, clock: FrozenClock) -> Authenticator:
    return Guard(
        store, Settings(argon2=FAST_ARGON2), clock=clock, background_flush=False
    ).authenticator


def warm_up(auth: Authenticator, token: MintedToken, authenticate: Authenticate) -> None:
    for _ in range(3):  # the first request verifies; the next ones take the warm path
        assert authenticate(auth, request(token)) is None


@pytest.mark.parametrize("authenticate", PATHS)
def test_a_token_revoked_in_the_store_is_refused_on_the_very_next_request(
    authenticate: Authenticate, clock: FrozenClock
) -> None:
    store = MemoryStore()
    token = TokenFactory(store, clock).mint()
    auth = guarded(store, clock)
    warm_up(auth, token, authenticate)
    service = TokenService(store, argon2=FAST_ARGON2, clock=clock)
    assert service.revoke_leaked(service.find_by_secret(token.secret), source="scan") == 1
    assert authenticate(auth, request(token)) is FailureReason.REVOKED
    auth.close()


@pytest.mark.parametrize("authenticate", PATHS)
def test_a_revocation_by_another_sqlite_connection_is_refused_on_the_next_request(
    authenticate: Authenticate, clock: FrozenClock, tmp_path: Path
) -> None:
    """The serving store caches records per connection: the other connection's commit
    must reach it before the next request is judged."""
    serving = SQLiteStore(tmp_path / "t.db")
    token = TokenFactory(serving, clock).mint()
    auth = guarded(serving, clock)
    warm_up(auth, token, authenticate)
    other = SQLiteStore(tmp_path / "t.db")
    service = TokenService(other, argon2=FAST_ARGON2, clock=clock)
    assert service.revoke_leaked(service.find_by_secret(token.secret), source="scan") == 1
    assert authenticate(auth, request(token)) is FailureReason.REVOKED
    auth.close()
    other.close()
    serving.close()


_REVOKE_IN_A_CHILD = """
import sys
from tokenward import SQLiteStore
from tokenward.management.service import TokenService
store = SQLiteStore(sys.argv[1], create=False)
service = TokenService(store)
print(service.revoke_leaked(service.find_by_secret(sys.stdin.read().strip()), source="scan"))
store.close()
"""


def test_a_revocation_by_another_process_is_refused_on_the_next_request(
    clock: FrozenClock, tmp_path: Path
) -> None:
    serving = SQLiteStore(tmp_path / "t.db")
    token = TokenFactory(serving, clock).mint()
    auth = guarded(serving, clock)
    warm_up(auth, token, sync_path)
    child = subprocess.run(  # the secret goes through stdin, never the process list
        [sys.executable, "-c", _REVOKE_IN_A_CHILD, str(tmp_path / "t.db")],
        input=token.secret,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.strip() == "1"
    assert sync_path(auth, request(token)) is FailureReason.REVOKED
    auth.close()
    serving.close()


@pytest.fixture
def cached() -> Iterator[tuple[CachedStore, MemoryStore, Feed]]:
    inner, feed = MemoryStore(), Feed()
    store = CachedStore(inner, feed, max_staleness=60, clock=FrozenClock(0))
    assert feed.ready.wait(10)
    yield store, inner, feed
    store.close()


@pytest.mark.parametrize("authenticate", PATHS)
def test_a_revocation_through_the_cache_is_refused_on_the_next_request(
    authenticate: Authenticate,
    clock: FrozenClock,
    cached: tuple[CachedStore, MemoryStore, Feed],
) -> None:
    store, _, _ = cached
    token = TokenFactory(store, clock).mint()
    auth = guarded(store, clock)
    warm_up(auth, token, authenticate)
    service = TokenService(store, argon2=FAST_ARGON2, clock=clock)
    assert service.revoke_leaked(service.find_by_secret(token.secret), source="scan") == 1
    assert authenticate(auth, request(token)) is FailureReason.REVOKED


@pytest.mark.parametrize("authenticate", PATHS)
def test_a_revocation_announced_by_another_process_reaches_the_cache(
    authenticate: Authenticate,
    clock: FrozenClock,
    cached: tuple[CachedStore, MemoryStore, Feed],
) -> None:
    store, inner, feed = cached
    token = TokenFactory(store, clock).mint()
    auth = guarded(store, clock)
    warm_up(auth, token, authenticate)
    elsewhere = TokenService(inner, argon2=FAST_ARGON2, clock=clock)  # bypasses this cache
    assert elsewhere.revoke_leaked(elsewhere.find_by_secret(token.secret), source="scan") == 1
    assert authenticate(auth, request(token)) is None  # not announced yet: the cached copy
    feed.on_change()  # what the store's NOTIFY / publish does
    assert authenticate(auth, request(token)) is FailureReason.REVOKED


# -- the service -------------------------------------------------------------------------


@pytest.fixture
def events() -> list[AuditEvent]:
    return []


@pytest.fixture
def service(clock: FrozenClock, events: list[AuditEvent]) -> TokenService:
    return TokenService(MemoryStore(), argon2=FAST_ARGON2, clock=clock, audit=events.append)


def mint(service: TokenService, name: str = "ci", **options: object) -> MintedToken:
    return MintedToken(service.create("alice", name, **options))  # type: ignore[arg-type]


def test_find_by_secret_matches_a_current_or_previous_secret_in_either_realm(
    service: TokenService,
) -> None:
    cpanel = mint(service)
    whm = MintedToken(service.create("root", "ops", realm=Realm.WHM))
    old = mint(service, "rotated")
    service.rotate("alice", "rotated", grace=3600)
    assert [r.name for r in service.find_by_secret(cpanel.secret)] == ["ci"]
    assert [(r.realm, r.name) for r in service.find_by_secret(whm.secret)] == [(Realm.WHM, "ops")]
    assert [r.name for r in service.find_by_secret(old.secret)] == ["rotated"]
    assert service.find_by_secret("A" * 32) == []
    assert service.find_by_secret("") == []


def test_revoke_leaked_marks_each_once_keeps_it_listed_and_audits_the_source(
    service: TokenService, clock: FrozenClock, events: list[AuditEvent]
) -> None:
    leaked, fine = mint(service, "leaked"), mint(service, "fine")
    events.clear()
    found = service.find_by_secret(leaked.secret)
    assert service.revoke_leaked(found, source="revoke endpoint 203.0.113.7") == 1
    assert service.revoke_leaked(found, source="scan") == 0  # already revoked: not again
    views = {view.name: view for view in service.list_tokens()}
    assert views["leaked"].status is TokenStatus.REVOKED
    assert views["leaked"].status_text == "revoked: reported leaked"
    assert (views["leaked"].revoked_at, views["leaked"].revoked_reason) == (
        int(clock()),
        TokenService.REVOKED_LEAKED,
    )
    assert views["fine"].status is TokenStatus.ACTIVE
    assert [(e.kind, e.token_name, e.detail) for e in events] == [
        ("token.revoked_leaked", "leaked", "reported leaked by revoke endpoint 203.0.113.7")
    ]
    for leftover in (repr(events), repr(service.store.list()), repr(views)):
        assert leaked.secret not in leftover
        assert fine.secret not in leftover


def test_revoke_leaked_skips_a_token_deleted_meanwhile(service: TokenService) -> None:
    leaked = mint(service)
    found = service.find_by_secret(leaked.secret)
    service.revoke("alice", ["ci"])
    assert service.revoke_leaked(found, source="scan") == 0
    assert service.list_tokens() == []


def test_revoke_leaked_keeps_a_rename_made_since_the_report(service: TokenService) -> None:
    leaked = mint(service)
    found = service.find_by_secret(leaked.secret)
    service.rename("alice", "ci", "renamed")
    assert service.revoke_leaked(found, source="scan") == 1
    (view,) = service.list_tokens()
    assert (view.name, view.status) == ("renamed", TokenStatus.REVOKED)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s.update("alice", "ci", acls=["edit-dns"]), id="update"),
        pytest.param(lambda s: s.update("alice", "ci", expires_at=None), id="update-expiry"),
        pytest.param(lambda s: s.rename("alice", "ci", "clean"), id="rename"),
        pytest.param(lambda s: s.rotate("alice", "ci"), id="rotate"),
    ],
)
def test_a_revoked_token_cannot_be_changed_only_deleted(
    service: TokenService, change: Callable[[TokenService], object]
) -> None:
    leaked = mint(service, expires_at=int(service.clock()) + 3600)
    service.revoke_leaked(service.find_by_secret(leaked.secret), source="scan")
    before = service.store.list()
    expected = (
        "was revoked (reported leaked) and cannot be changed: delete it (revoke it by name) "
        "and create a new one"
    )
    with pytest.raises(ValidationError, match=re.escape(expected)):
        change(service)
    assert service.store.list() == before
    assert [r.name for r in service.revoke("alice", ["ci"])] == ["ci"]
    assert service.store.list() == []


def test_purge_keeps_a_revoked_token_until_it_has_expired_too(
    service: TokenService, clock: FrozenClock
) -> None:
    """Decided: purging is about expiry; a revoked token stays to be seen until then."""
    now = int(clock())
    for name, expires_at in (("forever", None), ("later", now + 1000), ("past", now + 100)):
        leaked = mint(service, name, expires_at=expires_at)
        service.revoke_leaked(service.find_by_secret(leaked.secret), source="scan")
    clock.advance(500)
    assert [r.name for r in service.purge_expired()] == ["past"]
    assert sorted(r.name for r in service.store.list()) == ["forever", "later"]
