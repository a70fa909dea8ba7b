"""The pytest plugin, registered through the ``pytest11`` entry point.

Fixtures (all prefixed ``tokenward_`` so they never shadow a project's own):

- ``tokenward_clock``: a ``FrozenClock``;
- ``tokenward_store``: a fresh ``MemoryStore`` that every authenticator in the process
  serves from during the test (see ``use_store``);
- ``tokenward_factory``: a ``TokenFactory`` minting real tokens into that store;
- ``tokenward_token``: one minted token; configure it with
  ``@pytest.mark.tokenward(user="bob", acls=["edit-dns"], realm="whm", ...)``;
- ``tokenward_client``: a test client for your ``app`` fixture (WSGI: WebTest; ASGI:
  Starlette's TestClient) that sends ``tokenward_token``'s header on every request.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tokenward.stores.memory import MemoryStore
from tokenward.testing import FrozenClock, MintedToken, TokenFactory, use_store


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tokenward(user, name, realm, acls, whitelist_ips, expires_in): "
        "what the tokenward_token fixture mints",
    )


@pytest.fixture
def tokenward_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def tokenward_store() -> Iterator[MemoryStore]:
    store = MemoryStore()
    with use_store(store):
        yield store


@pytest.fixture
def tokenward_factory(tokenward_store: MemoryStore) -> TokenFactory:
    # Tokens are minted at the real time so that apps with their own clock accept them.
    return TokenFactory(tokenward_store, FrozenClock(time.time()))


@pytest.fixture
def tokenward_token(request: pytest.FixtureRequest, tokenward_factory: TokenFactory) -> MintedToken:
    marker = request.node.get_closest_marker("tokenward")
    options: dict[str, Any] = {} if marker is None else dict(marker.kwargs)
    if marker is not None and marker.args:
        options.setdefault("user", marker.args[0])
    return tokenward_factory.mint(**options)


@pytest.fixture
def tokenward_client(app: Any, tokenward_token: MintedToken) -> Any:
    """Needs an ``app`` fixture in your project (a WSGI or ASGI application)."""
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__):
        from starlette.testclient import TestClient

        return TestClient(app, headers=tokenward_token.headers)
    import webtest

    return webtest.TestApp(app, extra_environ=tokenward_token.environ)
