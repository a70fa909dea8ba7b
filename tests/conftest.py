"""Fixtures shared by the whole suite: a frozen clock, a store, a token factory."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenward import Authenticator, MemoryStore, Settings
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, FrozenClock, TokenFactory


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def factory(store: MemoryStore, clock: FrozenClock) -> TokenFactory:
    return TokenFactory(store, clock)


@pytest.fixture
def settings() -> Settings:
    return Settings(argon2=FAST_ARGON2)


@pytest.fixture
def authenticator(
    store: MemoryStore, settings: Settings, clock: FrozenClock
) -> Iterator[Authenticator]:
    auth = Guard(store, settings, clock=clock, background_flush=False).authenticator
    yield auth
    auth.close()


@pytest.fixture
def parsed_networks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every value ``ipaddress.ip_network`` is asked to parse, from now on."""
    calls: list[str] = []
    real: Callable[..., Any] = ipaddress.ip_network

    def counting(address: Any, strict: bool = True) -> Any:
        calls.append(str(address))
        return real(address, strict)

    monkeypatch.setattr(ipaddress, "ip_network", counting)
    return calls
