"""A real HTTP server (uvicorn on a socket we bound, in a thread) serving the management API
over a store the tests can also see."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tokenward import MemoryStore, TokenService
from tokenward.guard import Guard
from tokenward.management.http import ManagementASGI, management_settings
from tokenward.server import TokenwardServer
from tokenward.testing import FAST_ARGON2, MintedToken, TokenFactory, fast_settings

from ..serving import ThreadedServer


class LiveServer:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.service = TokenService(store, argon2=FAST_ARGON2)
        self.factory = TokenFactory(store)
        self.factory.service = self.service  # real clock: the server checks expiry against it
        auth = Guard(store, management_settings(fast_settings()), audit=None).authenticator
        forward = Guard(store, fast_settings(), audit=None).authenticator
        app = TokenwardServer(forward, extra_routes={"/": ManagementASGI(self.service, auth)})
        self.runner = ThreadedServer(app)
        self.url, self.port = self.runner.url, self.runner.port

    def client(self, token: MintedToken | None = None) -> httpx.Client:
        headers = {} if token is None else token.headers
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def mint(self, user: str, name: str, **options: object) -> MintedToken:
        return MintedToken(self.service.create(user, name, **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer(MemoryStore())
    server.runner.start()
    try:
        yield server
    finally:
        server.runner.stop()
