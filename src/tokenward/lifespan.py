"""ASGI lifespan served around an application, so last use is written at shutdown.

An ASGI app says "lifespan unsupported" by raising, or returning, before it has sent
``lifespan.startup.complete`` (a raw app that ignores the scope; Django, which raises). A
server then sends no shutdown event, and pending last-used times would wait for an
interpreter exit that uvicorn never reaches: it re-raises SIGTERM after its graceful
shutdown, so the process dies by the signal and ``atexit`` does not run.

So tokenward finishes whatever part of the conversation the app leaves unanswered: it
answers startup, waits for shutdown, writes pending last use, and answers shutdown. An app
that serves lifespan itself keeps doing so; the last-used times are written just before its
shutdown answer reaches the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tokenward.authenticator import Authenticator

if TYPE_CHECKING:
    from tokenward.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Flushable", "LifespanApp", "serve_lifespan"]

logger = logging.getLogger("tokenward.lifespan")

# An authenticator, or a function returning one: Django's is built by Django when it loads
# its middleware, after the ASGI application object exists, so it is looked up at shutdown.
Flushable = Authenticator | Callable[[], Authenticator]

_STARTUP = "lifespan.startup"
_SHUTDOWN = "lifespan.shutdown"
_STARTED = "lifespan.startup.complete"
_STARTUP_FAILED = "lifespan.startup.failed"
_SHUTDOWN_ANSWERS = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})


async def flush_all(flushables: Iterable[Flushable]) -> None:
    """Each guard once (several authenticators may share one), writing its pending last
    use. A failure is logged, never raised: the server must still hear that shutdown is
    over, or it waits for its timeout and reports the app as broken."""
    closed: set[int] = set()
    for flushable in flushables:
        try:
            authenticator = flushable if isinstance(flushable, Authenticator) else flushable()
            if id(authenticator.guard) not in closed:
                closed.add(id(authenticator.guard))
                await authenticator.guard.aclose()
        except Exception:
            logger.exception("could not write pending last use at shutdown")


class _Conversation:
    """One lifespan conversation: what the app received and sent, so that tokenward
    neither receives a message the app already consumed nor answers one twice."""

    def __init__(self, receive: Receive, send: Send, flushables: tuple[Flushable, ...]) -> None:
        self._receive = receive
        self._send = send
        self._flushables = flushables
        self._flushed = False
        self.received: set[str] = set()
        self.sent: set[str] = set()

    async def receive(self) -> Message:
        message = await self._receive()
        self.received.add(message["type"])
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        # Noted before sending: hypercorn's send raises on a ``*.failed`` message.
        self.sent.add(kind)
        if kind in _SHUTDOWN_ANSWERS:
            await self.flush()
        await self._send(message)

    async def flush(self) -> None:
        if not self._flushed:
            self._flushed = True
            await flush_all(self._flushables)

    @property
    def over(self) -> bool:
        """The server has its last answer: startup failed, or shutdown answered."""
        return _STARTUP_FAILED in self.sent or bool(self.sent & _SHUTDOWN_ANSWERS)

    async def finish(self, error: Exception | None) -> None:
        """Answer what the app left unanswered, flushing before the shutdown answer."""
        if _STARTED not in self.sent:
            # The spec's "unsupported" (an exception here is that signal, not a failure):
            # keep it from the server, which would otherwise send no shutdown event. An
            # app that read the startup event before raising may have meant a failure, so
            # that one is shown.
            tried = error is not None and _STARTUP in self.received
            logger.log(
                logging.WARNING if tried else logging.DEBUG,
                "the app does not serve lifespan (%r); tokenward serves it",
                error,
                exc_info=error if tried else None,
            )
            if _STARTUP not in self.received:
                await self.receive()
            await self.send({"type": _STARTED})
            error = None
        elif error is not None:
            logger.error(
                "the app's lifespan failed; last use is still written at shutdown", exc_info=error
            )
        while _SHUTDOWN not in self.received:
            await self.receive()
        if error is None:
            await self.send({"type": "lifespan.shutdown.complete"})
        else:
            await self.send({"type": "lifespan.shutdown.failed", "message": repr(error)})


async def serve_lifespan(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, *flushables: Flushable
) -> None:
    """Run ``app``'s lifespan, then finish the conversation for it if it stopped early."""
    conversation = _Conversation(receive, send, flushables)
    error: Exception | None = None
    try:
        await app(scope, conversation.receive, conversation.send)
    except Exception as exc:  # cancellation and exits are not the app's answer: they pass
        if conversation.over:
            raise  # the server already has its answer; the error is the app's to report
        error = exc
    if not conversation.over:
        await conversation.finish(error)


class LifespanApp:
    """``app`` with lifespan served for it when it does not serve it itself, each
    authenticator writing its pending last use at shutdown. Other scopes pass through."""

    def __init__(self, app: ASGIApp, *flushables: Flushable) -> None:
        self.app = app
        self.flushables = flushables

    def __repr__(self) -> str:
        return f"LifespanApp({self.app!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(self.app, scope, receive, send, *self.flushables)
        else:
            await self.app(scope, receive, send)
