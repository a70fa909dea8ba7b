"""A service on each embedded store, its audit events, and a way to try a secret."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tokenward import Decision, RequestInfo, TokenService
from tokenward.audit import AuditEvent
from tokenward.core.tokens import Identity, TokenRecord
from tokenward.guard import Guard
from tokenward.stores.base import TokenStore
from tokenward.stores.memory import MemoryStore
from tokenward.stores.sqlite import SQLiteStore
from tokenward.testing import FAST_ARGON2, FrozenClock, fast_settings

Attempt = Callable[..., Decision]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenStore]:
    store: TokenStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    )
    yield store
    store.close()


@pytest.fixture
def events() -> list[AuditEvent]:
    return []


@pytest.fixture
def service(backend: TokenStore, clock: FrozenClock, events: list[AuditEvent]) -> TokenService:
    return TokenService(backend, argon2=FAST_ARGON2, clock=clock, audit=events.append)


@pytest.fixture
def attempt(backend: TokenStore, clock: FrozenClock) -> Iterator[Attempt]:
    """``attempt(header, ip=None)``: what the middleware would decide, now."""
    auth = Guard(
        backend, fast_settings(), clock=clock, audit=None, background_flush=False
    ).authenticator

    def run(header: str, ip: str | None = "192.0.2.10") -> Decision:
        return auth.authenticate(RequestInfo("GET", "/", (header,), ip))

    yield run
    auth.close()


@pytest.fixture
def identity_of() -> Callable[[TokenRecord], Identity]:
    """The identity a request with a token would carry (the management API's actor)."""
    return _identity


def _identity(record: TokenRecord) -> Identity:
    return Identity(
        user=record.user,
        realm=record.realm,
        token_name=record.name,
        acls=record.acls,
        token_id=record.id,
        expires_at=record.expires_at,
    )
