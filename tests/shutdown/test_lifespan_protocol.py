"""The lifespan conversation tokenward holds around an app, driven message by message as a
server drives it: whatever the app answers or leaves unanswered, the server gets exactly one
answer to each event, and the last use is in the store when it hears shutdown is over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from tokenward import Authenticator, MemoryStore, Realm, TokenwardASGIMiddleware
from tokenward.asgi import ASGIApp, Message, Receive, Scope, Send, run_lifespan, with_lifespan
from tokenward.testing import FrozenClock, MintedToken, TokenFactory, fast_settings

STARTUP = {"type": "lifespan.startup"}
SHUTDOWN = {"type": "lifespan.shutdown"}
DONE = ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class Server:
    """The server's side: startup, then shutdown only once startup is answered (as uvicorn
    and hypercorn do); every message sent is logged with whether last use was stored by then.
    ``raise_on_failed`` is hypercorn's way: its send raises on a ``*.failed`` message."""

    def __init__(self, token: MintedToken, store: MemoryStore, *, raise_on_failed: bool = False):
        self.token = token
        self.store = store
        self.raise_on_failed = raise_on_failed
        self.inbox = [STARTUP, SHUTDOWN]
        self.sent: list[str] = []
        self.stored_at_answer: list[bool] = []
        self.receives = 0

    async def receive(self) -> Message:
        self.receives += 1
        assert self.inbox, "received past shutdown: the app would hang"
        if self.inbox[0] is SHUTDOWN:
            assert "lifespan.startup.complete" in self.sent, "shutdown before startup answered"
        return dict(self.inbox.pop(0))

    async def send(self, message: Message) -> None:
        assert message["type"] not in self.sent, f"answered twice: {message['type']}"
        self.sent.append(message["type"])
        self.stored_at_answer.append(self.last_used() is not None)
        if self.raise_on_failed and message["type"].endswith(".failed"):
            raise RuntimeError(f"server: {message['type']}")

    def last_used(self) -> int | None:
        record = self.store.find(Realm.CPANEL, "alice", self.token.created.record.name)
        assert record is not None
        return record.last_used_at

    async def lifespan(self, app: ASGIApp) -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.receive, self.send)

    async def request(self, app: ASGIApp) -> int:
        """One authenticated http request; its last use is only noted, not yet written."""
        scope: Scope = {
            "type": "http",
            "method": "GET",
            "path": "/whoami",
            "headers": [(b"authorization", self.token.header.encode())],
            "client": ("127.0.0.1", 40000),
        }
        statuses: list[int] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]


async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def with_lifespan_of(
    lifespan: Callable[[Receive, Send], Any],
) -> ASGIApp:
    """An app whose lifespan branch is ``lifespan``; http as ``http_only``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        else:
            await http_only(scope, receive, send)

    return app


async def ignores(receive: Receive, send: Send) -> None:
    return  # the raw example: `if scope["type"] != "http": return`


async def raises_at_once(receive: Receive, send: Send) -> None:
    raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")


async def raises_after_receiving(receive: Receive, send: Send) -> None:
    await receive()
    raise RuntimeError("unsupported, told after consuming lifespan.startup")


async def returns_after_receiving(receive: Receive, send: Send) -> None:
    await receive()


async def serves(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def fails_startup(receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


async def fails_shutdown(receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.failed", "message": "could not close"})


async def crashes_after_startup(receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    raise RuntimeError("background task died")


async def leaves_shutdown_unanswered(receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def token(store: MemoryStore) -> MintedToken:
    return TokenFactory(store, FrozenClock(0)).mint()


def middleware(app: ASGIApp, store: MemoryStore) -> TokenwardASGIMiddleware:
    # No background flush: the only write of last use is the one lifespan shutdown makes.
    return TokenwardASGIMiddleware(app, store, fast_settings(), background_flush=False)


def run(server: Server, app: ASGIApp) -> None:
    async def conversation() -> None:
        assert await server.request(app) == 200
        assert server.last_used() is None  # noted in memory only
        await server.lifespan(app)

    asyncio.run(conversation())


@pytest.mark.parametrize(
    "lifespan",
    [ignores, raises_at_once, raises_after_receiving, returns_after_receiving],
    ids=["ignores", "raises-at-once", "raises-after-receiving", "returns-after-receiving"],
)
def test_an_app_without_lifespan_gets_it_served_and_last_use_written(
    lifespan: Callable[[Receive, Send], Any], store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(lifespan), store))
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]  # written before shutdown.complete
    assert server.receives == 2  # startup consumed by the app is not received again


def test_raising_after_reading_startup_is_shown_raising_before_is_not(
    store: MemoryStore, token: MintedToken, caplog: pytest.LogCaptureFixture
) -> None:
    """Django raises before reading anything: plainly "unsupported", not worth a warning.
    An app that read the startup event and then raised may have meant a failure."""
    caplog.set_level(logging.WARNING, "tokenward.lifespan")
    run(Server(token, store), middleware(with_lifespan_of(raises_at_once), store))
    assert caplog.records == []
    other = MemoryStore()
    server = Server(TokenFactory(other, FrozenClock(0)).mint(), other)
    run(server, middleware(with_lifespan_of(raises_after_receiving), other))
    assert "told after consuming lifespan.startup" in caplog.text


def test_an_app_serving_lifespan_keeps_it_and_last_use_precedes_its_answer(
    store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(serves), store))
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]


def test_startup_failed_is_passed_on_and_nothing_more_is_said(
    store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(fails_startup), store))
    assert server.sent == ["lifespan.startup.failed"]
    assert server.receives == 1


def test_startup_failed_raised_by_the_server_send_is_not_taken_for_unsupported(
    store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store, raise_on_failed=True)
    with pytest.raises(RuntimeError, match=r"server: lifespan\.startup\.failed"):
        run(server, middleware(with_lifespan_of(fails_startup), store))
    assert server.sent == ["lifespan.startup.failed"]


def test_shutdown_failed_is_passed_on_after_last_use_is_written(
    store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(fails_shutdown), store))
    assert server.sent == ["lifespan.startup.complete", "lifespan.shutdown.failed"]
    assert server.stored_at_answer == [False, True]


def test_an_app_crashing_after_startup_still_has_last_use_written_and_shutdown_failed(
    store: MemoryStore, token: MintedToken, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(crashes_after_startup), store))
    assert server.sent == ["lifespan.startup.complete", "lifespan.shutdown.failed"]
    assert server.stored_at_answer == [False, True]
    assert "background task died" in caplog.text  # logged at once, not only at shutdown


def test_an_app_leaving_shutdown_unanswered_gets_it_answered(
    store: MemoryStore, token: MintedToken
) -> None:
    server = Server(token, store)
    run(server, middleware(with_lifespan_of(leaves_shutdown_unanswered), store))
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]
    assert server.receives == 2


def test_with_lifespan_looks_the_authenticator_up_at_shutdown_and_closes_it_once(
    store: MemoryStore, token: MintedToken
) -> None:
    """Django's shape: the authenticator is built by Django's middleware, not by whoever
    wraps the application; given twice (directly and through the function), one flush."""
    inner = middleware(with_lifespan_of(raises_at_once), store)
    closes: list[Authenticator] = []
    looked_up: list[str] = []
    real_aclose = inner.authenticator.guard.aclose

    async def counting_aclose() -> None:
        closes.append(inner.authenticator)
        await real_aclose()

    inner.authenticator.guard.aclose = counting_aclose  # type: ignore[method-assign]

    def get_authenticator() -> Authenticator:
        looked_up.append("now")
        return inner.authenticator

    # The inner shell would flush too: bypass it to see the wrapper's own work.
    app = with_lifespan(with_lifespan_of(raises_at_once), get_authenticator, inner.authenticator)
    server = Server(token, store)

    async def conversation() -> None:
        assert await server.request(inner) == 200
        assert looked_up == []
        await server.lifespan(app)

    asyncio.run(conversation())
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]
    assert looked_up == ["now"]
    assert len(closes) == 1


def test_a_failing_flush_is_logged_and_shutdown_still_answered(
    store: MemoryStore, token: MintedToken, caplog: pytest.LogCaptureFixture
) -> None:
    app = middleware(with_lifespan_of(ignores), store)

    async def broken() -> None:
        raise OSError("disk full")

    app.authenticator.guard.aclose = broken  # type: ignore[method-assign]
    server = Server(token, store)
    run(server, app)
    assert server.sent == DONE
    assert "could not write pending last use" in caplog.text


def test_a_failing_lookup_is_logged_and_the_others_still_flush(
    store: MemoryStore, token: MintedToken, caplog: pytest.LogCaptureFixture
) -> None:
    shell = middleware(http_only, store)

    def misconfigured() -> Authenticator:
        raise LookupError("no TOKENWARD setting")

    app = with_lifespan(http_only, misconfigured, shell.authenticator)
    server = Server(token, store)

    async def conversation() -> None:
        assert await server.request(shell) == 200
        await server.lifespan(app)

    asyncio.run(conversation())
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]
    assert "no TOKENWARD setting" in caplog.text


def test_run_lifespan_answers_everything_and_flushes(
    store: MemoryStore, token: MintedToken
) -> None:
    shell = middleware(http_only, store)
    server = Server(token, store)

    async def conversation() -> None:
        assert await server.request(shell) == 200
        await run_lifespan(server.receive, server.send, shell.authenticator)

    asyncio.run(conversation())
    assert server.sent == DONE
    assert server.stored_at_answer == [False, True]
