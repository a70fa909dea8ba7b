"""After creation the plaintext token appears nowhere: logs, reprs, errors, events, files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tokenward import (
    Credentials,
    FailureReason,
    Realm,
    RequestInfo,
    SQLiteStore,
    TokenService,
    parse_authorization,
)
from tokenward.audit import AuditEvent
from tokenward.errors import AuthenticationError
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, FrozenClock, TokenFactory, fast_settings


def test_nothing_the_library_keeps_or_says_contains_the_secret(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    events: list[AuditEvent] = []
    service = TokenService(store, argon2=FAST_ARGON2, clock=clock, audit=events.append)
    created = service.create("alice", "ci", acls=["edit-dns"], whitelist_ips=["192.0.2.0/24"])
    secret = created.secret
    auth = Guard(
        store, fast_settings(max_failures=1), clock=clock, audit=events.append, audit_success=True
    ).authenticator
    header = f"cpanel alice:{secret}"
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for request in (
            RequestInfo("GET", "/", (header,), "192.0.2.1"),  # success
            RequestInfo("GET", "/", (header,), "203.0.113.1"),  # address refused
            RequestInfo("GET", "/", (f"cpanel bob:{secret}",), "192.0.2.1"),  # wrong user
            RequestInfo("GET", "/", (header + " x",), "192.0.2.1"),  # malformed
            RequestInfo("GET", "/", (header, header), "192.0.2.1"),  # duplicated
        ):
            decision = auth.authenticate(request)
            texts.append(repr(decision))
        auth.close()
    try:
        parse_authorization(header + "\x00")
    except AuthenticationError as exc:
        texts += [str(exc), repr(exc)]
    credentials = parse_authorization(header)
    assert isinstance(credentials, Credentials)
    texts += [repr(credentials), repr(created), repr(created.record), repr(auth), repr(store)]
    texts += [repr(event) for event in events]
    texts.append(caplog.text)
    assert [e.reason for e in events if e.kind == "auth.failure"][:2] == [
        FailureReason.IP_NOT_ALLOWED,
        FailureReason.WRONG_USER,
    ]
    for text in texts:
        assert secret not in text
    store.close()
    for file in tmp_path.iterdir():
        assert secret.encode() not in file.read_bytes()


def test_minted_token_repr_hides_the_secret(clock: FrozenClock) -> None:
    token = TokenFactory(clock=clock).mint()
    assert token.secret not in repr(token)
    assert token.secret not in repr(token.created)


def test_store_keeps_only_digests_and_verifiers(clock: FrozenClock, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    token = TokenFactory(store, clock).mint()
    record = store.find(Realm.CPANEL, "alice", token.created.record.name)
    assert record is not None
    assert record.verifier.startswith("$argon2id$")
    assert token.secret not in record.verifier
    assert token.secret not in record.digest
