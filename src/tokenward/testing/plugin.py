"""The pytest plugin, registered through the ``pytest11`` entry point.

Fixtures (all prefixed ``tokenward_`` so they never shadow a project's own):

- ``tokenward_clock``: a ``FrozenClock``;
- ``tokenward_store``: the store your app serves from, emptied before each test. Before
  your conftest runs, the plugin points ``$TOKENWARD_STORE`` at a throwaway SQLite file
  (``tokenward.testing.session_store_url``) unless it is already set, so an app built at import
  time from ``$TOKENWARD_STORE`` and the tokens a test mints meet there: the same door a
  deployment uses, no swapping behind the app's back. A ``$TOKENWARD_STORE`` of your own is
  used as it is and never emptied;
- ``tokenward_factory``: a ``TokenFactory`` minting real tokens into that store;
- ``tokenward_token``: one minted token; configure it with
  ``@pytest.mark.tokenward(user="bob", acls=["edit-dns"], realm="whm", ...)``;
- ``tokenward_client``: a test client for your ``app`` fixture (WSGI: WebTest; ASGI:
  Starlette's TestClient) that sends ``tokenward_token``'s header on every request.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tokenward.errors import ConfigurationError
from tokenward.stores.base import TokenStore
from tokenward.stores.url import STORE_ENV, open_store
from tokenward.testing import (
    FrozenClock,
    MintedToken,
    TokenFactory,
    empty,
    is_session_store_url,
    session_store_url,
)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest imports an app: give the session a store, unless it has one."""
    if os.environ.get(STORE_ENV):
        return
    directory = tempfile.mkdtemp(prefix="tokenward-tests-")
    url = os.environ[STORE_ENV] = session_store_url(directory)

    def restore() -> None:
        if os.environ.get(STORE_ENV) == url:
            del os.environ[STORE_ENV]
        shutil.rmtree(directory, ignore_errors=True)

    early_config.add_cleanup(restore)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tokenward(user, name, realm, acls, whitelist_ips, expires_in): "
        "what the tokenward_token fixture mints",
    )


@pytest.fixture
def tokenward_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def _tokenward_session_store() -> Iterator[TokenStore]:
    url = os.environ.get(STORE_ENV, "")
    if not url or url.startswith("memory:"):
        raise ConfigurationError(
            f"{STORE_ENV}={url!r} cannot be shared between your app and the test's tokens: "
            "leave it unset (the tokenward plugin then provides a test store) or name a "
            "file or server"
        )
    store = open_store(url)
    yield store
    store.close()


@pytest.fixture
def tokenward_store(_tokenward_session_store: TokenStore) -> TokenStore:
    if is_session_store_url(os.environ.get(STORE_ENV, "")):
        empty(_tokenward_session_store)  # a throwaway store: each test starts empty
    return _tokenward_session_store


@pytest.fixture
def tokenward_factory(tokenward_store: TokenStore) -> TokenFactory:
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
