"""The lazy argon2 upgrade: a token made with weaker parameters than the authenticator's gets
a stronger verifier after its first successful use, off the request path, by compare-and-set;
never a downgrade, never for a rotated-away secret, never a secret in a log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import argon2
import pytest

from tokenward import (
    Authenticator,
    MemoryStore,
    RequestInfo,
    Settings,
    StoreError,
    TokenRecord,
    TokenService,
    open_store,
)
from tokenward.core.crypto import Argon2Profile, SecretHasher
from tokenward.guard import Guard
from tokenward.stores.base import Usage
from tokenward.testing import FrozenClock, MintedToken, TokenFactory, session_store_url
from tokenward.wsgi import TokenwardWSGIMiddleware

WEAK = Argon2Profile(time_cost=1, memory_cost=8)
STRONG = Argon2Profile(time_cost=2, memory_cost=32)


def req(token: MintedToken) -> RequestInfo:
    return RequestInfo("GET", "/", (token.header,), "192.0.2.1")


def mint(store: MemoryStore, clock: FrozenClock, profile: Argon2Profile) -> MintedToken:
    return MintedToken(TokenService(store, argon2=profile, clock=clock).create("alice", "ci"))


def authenticator(
    store: MemoryStore, clock: FrozenClock, profile: Argon2Profile = STRONG, **options: object
) -> Authenticator:
    settings = Settings(argon2=profile, **options)  # type: ignore[arg-type]
    return Guard(store, settings, clock=clock, audit=None, background_flush=False).authenticator


def parameters(store: MemoryStore, token: MintedToken) -> argon2.Parameters:
    record = store.get(token.created.record.digest)
    assert record is not None
    return argon2.extract_parameters(record.verifier)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.replacements = 0

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        self.replacements += 1
        return super().replace_verifier(digest, old, new)


def test_a_weak_verifier_is_upgraded_after_the_first_use_and_keeps_working(
    store: MemoryStore, clock: FrozenClock
) -> None:
    token = mint(store, clock, WEAK)
    auth = authenticator(store, clock)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    assert auth.verifications.upgraded == 1
    assert (parameters(store, token).time_cost, parameters(store, token).memory_cost) == (2, 32)
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.replace(verifier="") == token.created.record.replace(verifier="")
    # The same process knows the new verifier matches: no second argon2 run.
    assert auth.authenticate(req(token)).allowed
    assert auth.verifications.computations == 1
    # Another process verifies the new verifier once, and finds nothing to upgrade.
    other = authenticator(store, clock)
    assert other.authenticate(req(token)).allowed
    other.verifications.settle()
    assert (other.verifications.computations, other.verifications.upgraded) == (1, 0)
    auth.close()
    other.close()


def test_the_async_path_upgrades_too(store: MemoryStore, clock: FrozenClock) -> None:
    token = mint(store, clock, WEAK)
    auth = authenticator(store, clock)
    assert asyncio.run(auth.authenticate_async(req(token))).allowed
    auth.verifications.settle()
    assert parameters(store, token).memory_cost == 32
    auth.close()


def test_a_stronger_verifier_is_never_downgraded(store: MemoryStore, clock: FrozenClock) -> None:
    token = mint(store, clock, STRONG)
    before = store.get(token.created.record.digest)
    auth = authenticator(store, clock, WEAK)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    assert store.get(token.created.record.digest) == before
    assert auth.verifications.upgraded == 0
    auth.close()


def test_upgrades_can_be_switched_off(store: MemoryStore, clock: FrozenClock) -> None:
    token = mint(store, clock, WEAK)
    before = store.get(token.created.record.digest)
    auth = authenticator(store, clock, upgrade_verifiers=False)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    assert store.get(token.created.record.digest) == before
    auth.close()


def test_a_rotated_away_secret_in_its_grace_period_is_not_upgraded(clock: FrozenClock) -> None:
    store = CountingStore()
    old = mint(store, clock, WEAK)
    service = TokenService(store, argon2=WEAK, clock=clock)
    new = MintedToken(service.rotate("alice", "ci", grace=3600))
    rotated = store.get(new.created.record.digest)
    auth = authenticator(store, clock)
    assert auth.authenticate(req(old)).allowed
    auth.verifications.settle()
    assert store.get(new.created.record.digest) == rotated
    assert (store.replacements, auth.verifications.upgraded) == (0, 0)  # not even tried
    assert auth.authenticate(req(new)).allowed  # the current secret is upgraded
    auth.verifications.settle()
    upgraded = store.get(new.created.record.digest)
    assert upgraded is not None
    assert rotated is not None
    assert upgraded.verifier != rotated.verifier
    assert upgraded.previous_verifier == rotated.previous_verifier
    auth.close()


class ReadOnlyStore(MemoryStore):
    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        raise StoreError("read-only replica")


def test_a_store_that_cannot_write_the_upgrade_is_logged_and_the_token_keeps_working(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = ReadOnlyStore()
    token = mint(store, clock, WEAK)
    before = store.get(token.created.record.digest)
    auth = authenticator(store, clock)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    assert store.get(token.created.record.digest) == before
    assert "could not upgrade a token's argon2 verifier" in caplog.text
    assert auth.authenticate(req(token)).allowed
    auth.close()


def test_no_log_record_of_an_upgrade_holds_the_secret(
    store: MemoryStore, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = mint(store, clock, WEAK)
    auth = authenticator(store, clock)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    assert "upgraded a token's argon2 verifier" in caplog.text
    assert token.secret not in caplog.text
    assert all(token.secret not in repr(r.args) for r in caplog.records)
    auth.close()


def test_a_secret_that_does_not_match_its_verifier_is_refused_and_never_upgraded(
    store: MemoryStore, clock: FrozenClock
) -> None:
    token = mint(store, clock, WEAK)
    other = SecretHasher(WEAK).hash("B" * 32)  # a damaged row: the digest, another verifier
    store.save(token.created.record.replace(verifier=other))
    auth = authenticator(store, clock)
    assert not auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    found = store.get(token.created.record.digest)
    assert found is not None
    assert found.verifier == other
    assert auth.verifications.upgraded == 0
    auth.close()


def test_tokens_minted_in_tests_are_not_upgraded_behind_the_tests_back(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """An app with production settings over the pytest plugin's test store: its URL says
    no upgrades, so no background write races the test's own checks."""

    def hello(environ: object, start_response: object) -> list[bytes]:
        start_response("200 OK", [])  # type: ignore[operator]
        return [b"hi"]

    url = session_store_url(tmp_path)
    app = TokenwardWSGIMiddleware(hello, url, Settings(argon2=STRONG))
    store = open_store(url)
    token = TokenFactory(store, clock).mint()
    assert app.authenticator.authenticate(req(token)).allowed
    app.authenticator.verifications.settle()
    assert app.authenticator.verifications.upgrade is None
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.verifier == token.created.record.verifier
    app.authenticator.close()
    store.close()


def test_an_upgrade_replaces_the_verifier_and_keeps_the_last_use(
    store: MemoryStore, clock: FrozenClock
) -> None:
    token = mint(store, clock, WEAK)
    record: TokenRecord = token.created.record
    store.record_usage([Usage(record.id, int(clock()), "192.0.2.1")])
    auth = authenticator(store, clock)
    assert auth.authenticate(req(token)).allowed
    auth.verifications.settle()
    upgraded = store.get(record.digest)
    assert upgraded is not None
    assert (upgraded.last_used_at, upgraded.last_used_ip) == (int(clock()), "192.0.2.1")
    auth.close()
