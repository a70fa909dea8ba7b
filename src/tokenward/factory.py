"""Turning what a user passes to a middleware or adapter into one ``Authenticator``."""

from __future__ import annotations

from typing import Any

from tokenward.authenticator import Authenticator
from tokenward.core.settings import Settings
from tokenward.stores.base import TokenStore
from tokenward.stores.url import open_store, store_url_from_env

__all__ = ["IDENTITY_KEY", "StoreSpec", "build_authenticator"]

IDENTITY_KEY = "tokenward.identity"

StoreSpec = TokenStore | str | None

# Set only by ``tokenward.testing.use_store``: apps built while it is active use its store.
_test_stores: list[TokenStore] = []


def build_authenticator(
    store: StoreSpec = None, settings: Settings | None = None, **options: Any
) -> Authenticator:
    """``store`` may be a store, a store URL, or ``None`` for ``$TOKENWARD_STORE`` (else a
    SQLite file in the working directory). ``options`` go to ``Authenticator``."""
    if _test_stores:
        authenticator = Authenticator(_test_stores[-1], settings, **options)
        # Test tokens are weak on purpose: no upgrade writes behind the test's back.
        authenticator.verifications.upgrade = None
        return authenticator
    if not isinstance(store, TokenStore):
        store = open_store(store_url_from_env(store))
    return Authenticator(store, settings, **options)
