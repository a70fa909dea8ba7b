from __future__ import annotations

from tokenward import Authenticator, MemoryStore, RequestInfo, parse_authorization
from tokenward.testing import FrozenClock, TokenFactory, fast_settings, use_store


def test_use_store_swaps_every_live_authenticator_and_restores_it() -> None:
    production, test_store = MemoryStore(), MemoryStore()
    auth = Authenticator(production, fast_settings(), background_flush=False)
    token = TokenFactory(test_store).mint()
    request = RequestInfo("GET", "/", (token.header,), "192.0.2.1")
    assert not auth.authenticate(request).allowed
    with use_store(test_store):
        assert auth.store is test_store
        assert auth.authenticate(request).allowed
    assert auth.store is production
    assert not auth.authenticate(request).allowed


def test_minted_token_offers_headers_for_every_kind_of_client() -> None:
    token = TokenFactory().mint("bob", realm="whm")
    assert token.headers == {"Authorization": token.header}
    assert token.environ == {"HTTP_AUTHORIZATION": token.header}
    credentials = parse_authorization(token.header)
    assert credentials is not None
    assert (credentials.user, credentials.realm.value) == ("bob", "whm")


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(100.0)
    assert clock() == 100.0
    clock.advance(5)
    assert clock() == 105.0
    clock.set(7)
    assert clock() == 7


def test_factory_expiry_is_relative_to_its_clock() -> None:
    clock = FrozenClock(1000.0)
    token = TokenFactory(clock=clock).mint(expires_in=60)
    assert token.created.record.expires_at == 1060


def test_apps_built_while_use_store_is_active_serve_from_the_test_store() -> None:
    from tokenward import build_authenticator

    test_store = MemoryStore()
    token = TokenFactory(test_store).mint()
    with use_store(test_store):
        auth = build_authenticator("sqlite:///never-created.db", fast_settings())
        assert auth.store is test_store
        assert auth.authenticate(RequestInfo("GET", "/", (token.header,), "192.0.2.1")).allowed
    assert build_authenticator("memory://").store is not test_store
