from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import pytest

from tokenward import (
    Authenticator,
    FailureReason,
    MemoryStore,
    Owner,
    Realm,
    RequestInfo,
    Rule,
    Settings,
    StoreError,
    TokenRecord,
)
from tokenward.audit import AuditEvent
from tokenward.core.crypto import lookup_digest
from tokenward.guard import Guard
from tokenward.stores.base import Usage
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, TokenFactory


def request(
    header: str | None = None, *, path: str = "/api", peer: str = "192.0.2.10", method: str = "GET"
) -> RequestInfo:
    return RequestInfo(method, path, () if header is None else (header,), peer)


def test_valid_token_authenticates_with_its_identity(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint("alice", "ci", acls=["edit-dns"])
    decision = authenticator.authenticate(request(token.header))
    assert decision.allowed
    assert decision.identity is not None
    assert decision.identity.as_dict() == {
        "user": "alice",
        "realm": "cpanel",
        "token_name": "ci",
        "acls": ["edit-dns"],
        "readonly": False,
    }


def test_unknown_token_is_refused_without_any_argon2(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    factory.mint("alice")
    decision = authenticator.authenticate(request("cpanel alice:" + "A" * 32))
    assert decision.reason is FailureReason.UNKNOWN_TOKEN
    assert authenticator.verifications.computations == 0


def test_warm_token_is_verified_with_argon2_only_once(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint()
    for _ in range(5):
        assert authenticator.authenticate(request(token.header)).allowed
    assert authenticator.verifications.computations == 1


def test_revoked_token_fails_on_the_very_next_request(
    authenticator: Authenticator, factory: TokenFactory, store: MemoryStore
) -> None:
    token = factory.mint()
    assert authenticator.authenticate(request(token.header)).allowed
    store.delete([token.created.record.id])
    assert authenticator.authenticate(request(token.header)).reason is FailureReason.UNKNOWN_TOKEN


def test_token_of_one_realm_never_authenticates_in_the_other(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    whm = factory.mint("root", realm="whm")
    cpanel = factory.mint("alice", realm="cpanel")
    assert authenticator.authenticate(request(f"whm root:{whm.secret}")).allowed
    assert not authenticator.authenticate(request(f"cpanel root:{whm.secret}")).allowed
    assert not authenticator.authenticate(request(f"whm alice:{cpanel.secret}")).allowed


def test_a_realm_the_app_does_not_accept_is_treated_as_missing(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    settings = Settings(argon2=FAST_ARGON2, realms=frozenset({Realm.CPANEL}))
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    whm = factory.mint("root", realm="whm")
    assert auth.authenticate(request(whm.header)).reason is FailureReason.MISSING


def test_another_users_name_with_a_valid_token_is_refused(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint("alice")
    decision = authenticator.authenticate(request(f"cpanel bob:{token.secret}"))
    assert decision.reason is FailureReason.WRONG_USER


def test_expired_token_is_refused_after_its_last_second(
    authenticator: Authenticator, factory: TokenFactory, clock: FrozenClock
) -> None:
    token = factory.mint(expires_in=60)
    clock.advance(60.9)
    assert authenticator.authenticate(request(token.header)).allowed
    clock.advance(0.1)
    assert authenticator.authenticate(request(token.header)).reason is FailureReason.EXPIRED


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        pytest.param("2001:db8:1:2::77", True, id="inside-64"),
        pytest.param("2001:db8:1:3::77", False, id="outside-64"),
        pytest.param("::ffff:192.0.2.9", True, id="mapped-ipv4"),
        pytest.param("192.0.3.9", False, id="other-ipv4"),
        pytest.param("", False, id="unknown-address"),
    ],
)
def test_allow_list_decides_by_client_address(
    authenticator: Authenticator, factory: TokenFactory, peer: str, allowed: bool
) -> None:
    token = factory.mint(whitelist_ips=["2001:db8:1:2::/64", "192.0.2.0/24"])
    decision = authenticator.authenticate(request(token.header, peer=peer))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is FailureReason.IP_NOT_ALLOWED


def test_forwarded_address_counts_only_from_trusted_proxies(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    settings = Settings(argon2=FAST_ARGON2, trusted_proxies=("10.0.0.0/8",))
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    token = factory.mint(whitelist_ips=["198.51.100.7"])
    via_proxy = RequestInfo("GET", "/", (token.header,), "10.0.0.2", "198.51.100.7")
    spoofed = RequestInfo("GET", "/", (token.header,), "203.0.113.9", "198.51.100.7")
    assert auth.authenticate(via_proxy).allowed
    assert auth.authenticate(spoofed).reason is FailureReason.IP_NOT_ALLOWED


def test_route_acl_missing_gives_403_and_present_passes(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    settings = Settings(argon2=FAST_ARGON2, rules=(Rule.require("/dns", "edit-dns"),))
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    dns = factory.mint("alice", acls=["edit-dns"])
    other = factory.mint("alice", acls=["list-accts"])
    full = factory.mint("alice", acls=["all"])
    assert auth.authenticate(request(dns.header, path="/dns/zones")).allowed
    assert auth.authenticate(request(full.header, path="/dns/zones")).allowed
    refused = auth.authenticate(request(other.header, path="/dns/zones"))
    assert refused.reason is FailureReason.MISSING_ACL
    assert refused.refusal is not None
    assert refused.refusal.status == 403


def test_public_and_optional_routes(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    settings = Settings(argon2=FAST_ARGON2, rules=(Rule.public("/health"), Rule.optional("/feed")))
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    token = factory.mint()
    assert auth.authenticate(request(None, path="/health")).allowed
    assert auth.authenticate(request("cpanel broken", path="/health")).allowed
    assert auth.authenticate(request(None, path="/feed")).identity is None
    assert auth.authenticate(request(None, path="/feed")).allowed
    assert auth.authenticate(request(token.header, path="/feed")).identity is not None
    assert auth.authenticate(request("cpanel broken", path="/feed")).reason is (
        FailureReason.MALFORMED
    )
    assert auth.authenticate(request(None, path="/other")).reason is FailureReason.MISSING


class Directory:
    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {"alice": Owner(acls=frozenset({"edit-dns", "x"}))}

    def owner(self, realm: Realm, user: str) -> Owner | None:
        return self.owners.get(user)


def test_owner_standing_is_checked_on_every_request(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    directory = Directory()
    settings = Settings(argon2=FAST_ARGON2, rules=(Rule.require("/dns", "edit-dns"),))
    auth = Guard(
        store, settings, clock=clock, directory=directory, background_flush=False
    ).authenticator
    token = factory.mint("alice", acls=["all"])
    decision = auth.authenticate(request(token.header, path="/dns"))
    assert decision.identity is not None
    assert decision.identity.acls == {"edit-dns", "x"}
    directory.owners["alice"] = Owner(acls=frozenset({"x"}))  # privilege removed
    assert auth.authenticate(request(token.header, path="/dns")).reason is (
        FailureReason.MISSING_ACL
    )
    directory.owners["alice"] = Owner(active=False)
    assert auth.authenticate(request(token.header)).reason is FailureReason.OWNER_SUSPENDED
    del directory.owners["alice"]
    assert auth.authenticate(request(token.header)).reason is FailureReason.OWNER_UNKNOWN


def test_a_warm_token_reuses_its_grant_until_its_record_changes(
    authenticator: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint("alice", "ci", acls=["edit-dns"])
    first = authenticator.authenticate(request(token.header))
    again = authenticator.authenticate(request(token.header))
    assert again.identity is first.identity  # nothing rebuilt on the warm path
    factory.service.update("alice", "ci", acls=["list-accts"])
    changed = authenticator.authenticate(request(token.header))
    assert changed.identity is not None
    assert changed.identity.acls == {"list-accts"}
    factory.service.update("alice", "ci", new_name="ci-2")
    renamed = authenticator.authenticate(request(token.header))
    assert renamed.identity is not None
    assert renamed.identity.token_name == "ci-2"


def test_a_reused_grant_never_covers_another_routes_acls(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    rules = (Rule.require("/dns", "edit-dns"), Rule.require("/accounts", "kill-acct"))
    settings = Settings(argon2=FAST_ARGON2, rules=rules)
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    token = factory.mint("alice", acls=["edit-dns"])
    for _ in range(2):
        assert auth.authenticate(request(token.header, path="/dns")).allowed
        refused = auth.authenticate(request(token.header, path="/accounts"))
        assert refused.reason is FailureReason.MISSING_ACL
        assert auth.authenticate(request(token.header, path="/other")).allowed


class BrokenStore(MemoryStore):
    def get(self, digest: str) -> TokenRecord | None:
        raise StoreError("down")


def test_store_outage_is_a_503_with_retry_after_never_a_pass(
    settings: Settings, clock: FrozenClock
) -> None:
    auth = Guard(BrokenStore(), settings, clock=clock, background_flush=False).authenticator
    decision = auth.authenticate(request("cpanel alice:" + "A" * 32))
    assert decision.refusal is not None
    assert decision.refusal.status == 503
    assert ("retry-after", "5") in decision.refusal.headers
    assert asyncio.run(auth.authenticate_async(request("cpanel alice:" + "A" * 32))).reason is (
        FailureReason.STORE_UNAVAILABLE
    )


def test_broken_user_directory_fails_closed(
    store: MemoryStore, factory: TokenFactory, settings: Settings, clock: FrozenClock
) -> None:
    class Exploding:
        def owner(self, realm: Realm, user: str) -> Owner | None:
            raise RuntimeError("ldap down")

    auth = Guard(
        store, settings, clock=clock, directory=Exploding(), background_flush=False
    ).authenticator
    token = factory.mint()
    assert auth.authenticate(request(token.header)).reason is FailureReason.STORE_UNAVAILABLE


def test_every_authentication_failure_gives_the_same_401(
    authenticator: Authenticator, factory: TokenFactory, clock: FrozenClock
) -> None:
    good = factory.mint("alice")
    expired = factory.mint("alice", expires_in=10)
    fenced = factory.mint("alice", whitelist_ips=["198.51.100.0/24"])
    clock.advance(20)
    headers = {
        "missing": None,
        "malformed": "cpanel alice",
        "unknown": "cpanel alice:" + "B" * 32,
        "wrong-user": f"cpanel bob:{good.secret}",
        "expired": expired.header,
        "address": fenced.header,
    }
    responses = {k: authenticator.authenticate(request(v)).refusal for k, v in headers.items()}
    assert {r.status for r in responses.values() if r} == {401}
    assert len({responses[k] for k in headers}) == 1


def test_last_use_is_batched_and_written_at_most_once_per_flush(
    authenticator: Authenticator, factory: TokenFactory, store: MemoryStore, clock: FrozenClock
) -> None:
    token = factory.mint()
    for i in range(50):
        clock.advance(1)
        authenticator.authenticate(request(token.header, peer=f"192.0.2.{i}"))
    record = store.find(Realm.CPANEL, "alice", token.created.record.name)
    assert record is not None
    assert record.last_used_at is None  # nothing written on the request path
    assert authenticator.usage.flush() == 1
    record = store.find(Realm.CPANEL, "alice", token.created.record.name)
    assert record is not None
    assert (record.last_used_at, record.last_used_ip) == (int(clock()), "192.0.2.49")
    assert authenticator.usage.writes == 1


def test_last_use_survives_a_store_failure_during_flush(
    authenticator: Authenticator,
    factory: TokenFactory,
    store: MemoryStore,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = factory.mint()
    authenticator.authenticate(request(token.header))

    def down(usages: Sequence[Usage]) -> None:
        raise StoreError("down")

    monkeypatch.setattr(store, "record_usage", down)
    assert authenticator.usage.flush() == 0
    monkeypatch.undo()
    assert authenticator.usage.flush() == 1
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.last_used_at == int(clock())


def test_background_flush_writes_without_a_request(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    written = threading.Event()
    original = store.record_usage

    def spy(usages: Sequence[Usage]) -> None:
        original(usages)
        written.set()

    store.record_usage = spy  # type: ignore[method-assign]
    settings = Settings(argon2=FAST_ARGON2, last_used_interval=0.01)
    auth = Guard(store, settings, clock=clock).authenticator
    token = factory.mint()
    auth.authenticate(request(token.header))
    assert written.wait(timeout=10)
    auth.close()


def test_close_flushes_pending_last_use(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    auth = Guard(store, Settings(argon2=FAST_ARGON2), clock=clock).authenticator
    token = factory.mint()
    auth.authenticate(request(token.header))
    auth.close()
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.last_used_at == int(clock())


def test_audit_events_carry_the_precise_reason_and_never_the_secret(
    store: MemoryStore,
    factory: TokenFactory,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[AuditEvent] = []
    auth = Guard(
        store,
        Settings(argon2=FAST_ARGON2),
        clock=clock,
        audit=events.append,
        audit_success=True,
        background_flush=False,
    ).authenticator
    token = factory.mint(expires_in=5)
    auth.authenticate(request(token.header))
    clock.advance(10)
    auth.authenticate(request(token.header))
    auth.authenticate(request(f"cpanel alice:{token.secret} junk"))
    kinds = ["auth.new_address", "auth.success", "auth.failure", "auth.failure"]
    assert [e.kind for e in events] == kinds
    assert [e.reason for e in events][1:] == [
        None,
        FailureReason.EXPIRED,
        FailureReason.MALFORMED,
    ]
    assert events[2].token_name == token.created.record.name
    assert all(token.secret not in repr(e) for e in events)


def test_logs_name_the_reason_and_never_the_secret(
    store: MemoryStore,
    factory: TokenFactory,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = Guard(
        BrokenStore(), Settings(argon2=FAST_ARGON2), clock=clock, background_flush=False
    ).authenticator
    token = factory.mint()
    with caplog.at_level(logging.DEBUG, logger="tokenward"):
        auth.authenticate(request(token.header))
        auth.authenticate(request(f"cpanel alice:{token.secret}\x00"))
    assert "store_unavailable" in caplog.text
    assert "malformed" in caplog.text
    assert token.secret not in caplog.text


def _secret_after_rotation(factory: TokenFactory, token: MintedToken, grace: int) -> str:
    """Rotate by hand (the service's rotate lives in the management layer)."""
    fresh = factory.mint(token.created.record.user, "scratch")
    old = token.created.record
    factory.store.delete([fresh.created.record.id])
    factory.store.save(
        old.replace(
            digest=fresh.created.record.digest,
            verifier=fresh.created.record.verifier,
            previous_digest=old.digest,
            previous_verifier=old.verifier,
            previous_until=int(factory.clock()) + grace,
        )
    )
    return fresh.secret


def test_previous_secret_works_through_the_grace_period_then_stops(
    authenticator: Authenticator, factory: TokenFactory, clock: FrozenClock
) -> None:
    token = factory.mint("alice", "deploy")
    new_secret = _secret_after_rotation(factory, token, grace=3600)
    assert authenticator.authenticate(request(token.header)).allowed
    assert authenticator.authenticate(request(f"cpanel alice:{new_secret}")).allowed
    clock.advance(3601)
    assert authenticator.authenticate(request(token.header)).reason is FailureReason.ROTATED_OUT
    assert authenticator.authenticate(request(f"cpanel alice:{new_secret}")).allowed


def test_a_changed_verifier_is_verified_again(
    authenticator: Authenticator, factory: TokenFactory, store: MemoryStore
) -> None:
    token = factory.mint()
    assert authenticator.authenticate(request(token.header)).allowed
    record = token.created.record
    store.save(record.replace(verifier=factory.service.hasher.hash("X" * 32)))
    assert authenticator.authenticate(request(token.header)).reason is FailureReason.BAD_SECRET
    assert authenticator.verifications.computations == 2


def test_digest_depends_on_realm_and_secret() -> None:
    assert lookup_digest(Realm.CPANEL, "A" * 32) != lookup_digest(Realm.WHM, "A" * 32)
    assert lookup_digest(Realm.CPANEL, "A" * 32) != lookup_digest(Realm.CPANEL, "B" * 32)


def test_last_use_keeps_the_latest_address_within_one_second(
    authenticator: Authenticator, factory: TokenFactory, store: MemoryStore
) -> None:
    token = factory.mint()
    for peer in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):  # same second, address changes
        authenticator.authenticate(request(token.header, peer=peer))
    authenticator.usage.flush()
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.last_used_ip == "192.0.2.2"
