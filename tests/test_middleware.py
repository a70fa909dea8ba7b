"""The raw WSGI and ASGI shells: what they put in environ/scope and what they answer."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import webtest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tokenward import (
    IDENTITY_KEY,
    Authenticator,
    Identity,
    MemoryStore,
    Rule,
    Settings,
    SQLiteStore,
    TokenwardASGIMiddleware,
    TokenwardWSGIMiddleware,
)
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, FrozenClock, TokenFactory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SETTINGS = Settings(argon2=FAST_ARGON2, rules=(Rule.public("/health"),))


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    identity: Identity | None = environ.get(IDENTITY_KEY)
    body = {
        "identity": None if identity is None else identity.as_dict(),
        "remote_user": environ.get("REMOTE_USER"),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope[IDENTITY_KEY].user})
        await send({"type": "websocket.close", "code": 1000})
        return
    identity = scope.get(IDENTITY_KEY)
    body = json.dumps({"identity": None if identity is None else identity.as_dict()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def auth(store: MemoryStore, clock: FrozenClock) -> Iterator[Authenticator]:
    authenticator = Guard(store, SETTINGS, clock=clock, background_flush=False).authenticator
    yield authenticator
    authenticator.close()


@pytest.fixture
def wsgi(auth: Authenticator) -> webtest.TestApp:
    middleware = TokenwardWSGIMiddleware(wsgi_app, authenticator=auth)
    return webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": "192.0.2.1"})


@pytest.fixture
def asgi(auth: Authenticator) -> TestClient:
    return TestClient(TokenwardASGIMiddleware(asgi_app, authenticator=auth))


def test_wsgi_places_identity_and_remote_user(wsgi: webtest.TestApp, factory: TokenFactory) -> None:
    token = factory.mint("alice", "ci", acls=["edit-dns"])
    body = wsgi.get("/x", headers=token.headers).json
    assert body == {
        "identity": {
            "user": "alice",
            "realm": "cpanel",
            "token_name": "ci",
            "acls": ["edit-dns"],
            "readonly": False,
        },
        "remote_user": "alice",
    }


def test_asgi_places_identity_in_scope(asgi: TestClient, factory: TokenFactory) -> None:
    token = factory.mint("alice", "ci")
    assert asgi.get("/x", headers=token.headers).json()["identity"]["token_name"] == "ci"


def test_refusals_are_byte_identical_across_wsgi_and_asgi(
    wsgi: webtest.TestApp, asgi: TestClient, factory: TokenFactory
) -> None:
    token = factory.mint()
    cases = [
        {},
        {"Authorization": "cpanel nobody"},
        {"Authorization": f"cpanel bob:{token.secret}"},
    ]
    wsgi_answers = {
        (r.status_int, r.body, r.headers["WWW-Authenticate"], r.headers["Content-Type"])
        for r in (wsgi.get("/x", headers=h, status=401) for h in cases)
    }
    asgi_answers = {
        (r.status_code, r.content, r.headers["www-authenticate"], r.headers["content-type"])
        for r in (asgi.get("/x", headers=h) for h in cases)
    }
    assert len(wsgi_answers) == 1
    assert wsgi_answers == asgi_answers


def test_public_path_needs_no_token(wsgi: webtest.TestApp, asgi: TestClient) -> None:
    assert wsgi.get("/health").json["identity"] is None
    assert asgi.get("/health").status_code == 200


def test_asgi_refuses_several_authorization_headers(
    auth: Authenticator, factory: TokenFactory
) -> None:
    token = factory.mint()
    transport = httpx.ASGITransport(app=TokenwardASGIMiddleware(asgi_app, authenticator=auth))

    async def send() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = [("Authorization", token.header), ("Authorization", token.header)]
            return (await client.get("/x", headers=headers)).status_code

    assert asyncio.run(send()) == 401


def test_websocket_with_a_token_is_accepted_and_without_is_closed_with_1008(
    asgi: TestClient, factory: TokenFactory
) -> None:
    token = factory.mint("alice")
    with asgi.websocket_connect("/ws", headers=token.headers) as ws:
        assert ws.receive_text() == "alice"
    with pytest.raises(WebSocketDisconnect) as excinfo, asgi.websocket_connect("/ws"):
        pass
    assert excinfo.value.code == 1008


def test_lifespan_passes_through_and_shutdown_flushes_last_use(
    store: MemoryStore, factory: TokenFactory, clock: FrozenClock
) -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await asgi_app(scope, receive, send)

    token = factory.mint()
    middleware = TokenwardASGIMiddleware(app, store, SETTINGS, clock=clock)
    with TestClient(middleware) as client:
        assert client.get("/x", headers=token.headers).status_code == 200
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    record = store.get(token.created.record.digest)
    assert record is not None
    assert record.last_used_at == int(clock())


def test_store_outage_answers_503_through_both_shells(clock: FrozenClock) -> None:
    class Down(MemoryStore):
        def get(self, digest: str) -> None:
            from tokenward import StoreError

            raise StoreError("down")

    auth = Guard(Down(), SETTINGS, clock=clock, background_flush=False).authenticator
    header = {"Authorization": "cpanel alice:" + "A" * 32}
    wsgi = webtest.TestApp(TokenwardWSGIMiddleware(wsgi_app, authenticator=auth))
    assert wsgi.get("/x", headers=header, status=503).headers["Retry-After"] == "5"
    asgi = TestClient(TokenwardASGIMiddleware(asgi_app, authenticator=auth))
    assert asgi.get("/x", headers=header).status_code == 503


def test_middleware_opens_the_store_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{path}")
    middleware = TokenwardWSGIMiddleware(wsgi_app, settings=SETTINGS, clock=clock)
    store = middleware.authenticator.store
    assert isinstance(store, SQLiteStore)
    token = TokenFactory(store, clock).mint()
    app = webtest.TestApp(middleware, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    assert app.get("/x", headers=token.headers).json["remote_user"] == "alice"
    middleware.close()


def test_sqlite_file_never_contains_the_plaintext_token(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "tokens.db"
    store = SQLiteStore(path)
    factory = TokenFactory(store, clock)
    tokens = [factory.mint(name=f"t{i}") for i in range(5)]
    auth = Guard(store, SETTINGS, clock=clock, background_flush=False).authenticator
    app = webtest.TestApp(TokenwardWSGIMiddleware(wsgi_app, authenticator=auth))
    for token in tokens:
        app.get("/x", headers=token.headers, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    auth.close()
    store.close()
    with sqlite3.connect(path) as db:  # checkpoint the WAL so every byte is in the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(db.iterdump())
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for token in tokens:
        assert token.secret not in dump
        assert token.secret.encode() not in raw
    assert tokens[0].created.record.digest in dump  # the dump is of the real table
