from __future__ import annotations

from pathlib import Path

from tokenward import open_store, parse_authorization
from tokenward.testing import FrozenClock, TokenFactory, empty, session_store_url


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


def test_the_session_store_url_names_a_file_in_the_directory_given(tmp_path: Path) -> None:
    url = session_store_url(tmp_path)
    assert url.startswith(f"sqlite:///{tmp_path}/")
    store = open_store(url)
    try:
        TokenFactory(store).mint()
        assert (tmp_path / "tokenward-tests.db").exists()
    finally:
        store.close()


def test_empty_revokes_every_token() -> None:
    factory = TokenFactory()
    factory.mint("alice")
    factory.mint("bob", realm="whm")
    empty(factory.store)
    assert factory.store.list() == []
