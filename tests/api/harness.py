"""The management API's ASGI app called in-process (httpx's ``ASGITransport``), over a store,
a frozen clock and an optional user directory the tests hold: no server, no sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import httpx

from tokenward import MemoryStore, Owner, Realm, TokenService
from tokenward.guard import Guard
from tokenward.management.http import ManagementASGI, management_settings
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, fast_settings

DAY = 86_400


class Directory:
    """A user directory the test edits as it goes (``None`` for an unknown user)."""

    def __init__(self, **owners: Owner) -> None:
        self.owners = owners

    def owner(self, realm: Realm, user: str) -> Owner | None:
        return self.owners.get(user)


class InProcessApi:
    def __init__(
        self, directory: Directory | None = None, acl_vocabulary: frozenset[str] | None = None
    ) -> None:
        self.clock = FrozenClock()
        self.store = MemoryStore()
        self.service = TokenService(
            self.store,
            argon2=FAST_ARGON2,
            clock=self.clock,
            directory=directory,
            acl_vocabulary=acl_vocabulary,
        )
        self.auth = Guard(
            self.store,
            management_settings(fast_settings()),
            clock=self.clock,
            directory=directory,
            audit=None,
            background_flush=False,
        ).authenticator
        self.app = ManagementASGI(self.service, self.auth)

    def mint(self, user: str, name: str, **options: Any) -> MintedToken:
        return MintedToken(self.service.create(user, name, **options))

    def client(self, token: MintedToken) -> httpx.AsyncClient:
        """A client for this app; the peer address is ``127.0.0.1``."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(
            transport=transport, base_url="http://api.test", headers=token.headers, timeout=60
        )

    def post(self, token: MintedToken, path: str, **request: Any) -> httpx.Response:
        """One POST on a fresh event loop; ``request`` is httpx's (data, json, content…)."""

        async def call() -> httpx.Response:
            async with self.client(token) as client:
                return await client.post(path, **request)

        return asyncio.run(call())

    def post_raw(self, token: MintedToken, path: str, query: bytes) -> tuple[int, Any]:
        """A bodiless POST straight to the ASGI app, for a query string longer than any
        client library sends (an ASGI server in front may or may not cut it)."""
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", b"api.test"), (b"authorization", token.header.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("api.test", 80),
        }
        asyncio.run(self.app(scope, receive, send))
        return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    def close(self) -> None:
        self.auth.close()


def snapshot(service: TokenService) -> list[tuple[str, str, object, object, object, object]]:
    """Every token's realm, name, ACLs, allow-list, expiry and lookup digest."""
    return [
        (r.realm.value, r.name, sorted(r.acls), r.whitelist_ips, r.expires_at, r.digest)
        for r in service.store.list()
    ]
