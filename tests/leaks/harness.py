"""The leak report endpoint called in-process: the server with it mounted, over a store that
can fail, a frozen clock and an audit list the tests hold; its revoker has no thread unless
asked, so reports wait until the test drains them."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import MutableMapping
from typing import Any

from tokenward import MemoryStore, Realm, StoreError, TokenRecord, TokenService
from tokenward.audit import AuditEvent, log_event
from tokenward.guard import Guard
from tokenward.limits import FailureLimiter
from tokenward.management.leaks import LeakRevoker
from tokenward.management.revoke_endpoint import RevokeEndpointASGI
from tokenward.server import TokenwardServer
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, fast_settings

__all__ = ["JSON", "PATH", "Answer", "OutageStore", "Reports", "call", "received"]

Answer = tuple[int, tuple[tuple[bytes, bytes], ...], bytes]
JSON = (b"content-type", b"application/json")
PATH = "/credentials/revoke"


class OutageStore(MemoryStore):
    """A memory store that counts reads and writes, and fails them while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    def get(self, digest: str) -> TokenRecord | None:
        self.calls += 1
        if self.down:
            raise StoreError("the store is down")
        return super().get(digest)

    def save(self, record: TokenRecord) -> None:
        self.calls += 1
        if self.down:
            raise StoreError("the store is down")
        super().save(record)


class Reports:
    """The server with the endpoint mounted, over a store, a frozen clock and an audit list
    the test holds; the revoker has no thread, so reports wait until ``drain``."""

    def __init__(
        self,
        *,
        budget: tuple[int, float] = (1000, 60.0),
        limiter: FailureLimiter | None = None,
        max_waiting: int = 1000,
        trusted_proxies: tuple[str, ...] = (),
        background: bool = False,
    ) -> None:
        self.clock = FrozenClock()
        self.store = OutageStore()
        self.events: list[AuditEvent] = []
        settings = fast_settings(trusted_proxies=trusted_proxies, proxy_header="x-real-ip")
        self.guard = Guard(
            self.store,
            settings,
            clock=self.clock,
            audit=self.audit,
            limiter=limiter,
            background_flush=False,
        )
        self.revoker = LeakRevoker(
            self.guard.service,
            max_waiting=max_waiting,
            background=background,
            retry=(0.001, 0.001),
        )
        self.endpoint = RevokeEndpointASGI(self.guard, budget=budget, revoker=self.revoker)
        self.server = TokenwardServer(self.guard.authenticator, extra_routes={PATH: self.endpoint})
        self.revoked = threading.Event()

    def audit(self, event: AuditEvent) -> None:
        self.events.append(event)
        log_event(event)  # the default sink too, so its log lines are checked as well
        if event.kind == "token.revoked_leaked":
            self.revoked.set()

    def mint(
        self, user: str = "alice", *, realm: Realm = Realm.CPANEL, prefixed: bool = False
    ) -> MintedToken:
        service = TokenService(
            self.store,
            argon2=FAST_ARGON2,
            clock=self.clock,
            token_format="prefixed" if prefixed else "cpanel",
        )
        return MintedToken(service.create(user, f"t{len(self.store.list())}", realm=realm))

    def report(self, *items: object, **options: Any) -> Answer:
        return self.post(json.dumps({"credentials": list(items)}).encode(), **options)

    def post(
        self,
        body: bytes,
        *,
        headers: tuple[tuple[bytes, bytes], ...] = (JSON,),
        client: str = "127.0.0.1",
        path: str = PATH,
        method: str = "POST",
        chunks: int = 1,
    ) -> Answer:
        size = -(-len(body) // chunks) or 1
        parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        return call(self.server, method, path=path, headers=headers, parts=parts, client=client)

    def forward_auth(self, token: MintedToken) -> int:
        headers = ((b"authorization", token.header.encode()),)
        return call(
            self.server, "GET", path="/auth", headers=headers, parts=[b""], client="127.0.0.1"
        )[0]

    def status(self, token: MintedToken) -> tuple[str | None, str | None]:
        record = self.store.get(token.created.record.digest)
        assert record is not None
        return record.revoked_reason, record.status(self.clock()).value


def call(
    app: Any,
    method: str,
    *,
    path: str,
    headers: tuple[tuple[bytes, bytes], ...],
    parts: list[bytes],
    client: str,
) -> Answer:
    """One request straight to the ASGI app, its body in ``parts``; the whole answer."""
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"tokenward.test"), *headers],
        "client": (client, 50000),
        "server": ("tokenward.test", 80),
    }
    asyncio.run(app(scope, receive, send))
    start, *body = sent
    return start["status"], tuple(start["headers"]), b"".join(m.get("body", b"") for m in body)


def received(count: int) -> Answer:
    body = json.dumps({"status": "received", "count": count}).encode()
    headers = (
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    )
    return 202, headers, body
