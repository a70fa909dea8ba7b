"""Real HTTP for tests: an ASGI app served by uvicorn in a thread, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn

from tokenward.asgi import ASGIApp

__all__ = ["ThreadedServer", "running"]


class ThreadedServer:
    """The socket is bound and listening from construction, so the port is known at once
    and connections made before uvicorn starts wait in its backlog instead of failing."""

    def __init__(self, app: ASGIApp) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(app, fd=self.sock.fileno(), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """A graceful shutdown: the app's lifespan shutdown runs before this returns."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@contextlib.contextmanager
def running(app: ASGIApp) -> Iterator[str]:
    """``app`` served for the duration of the block; yields its base URL."""
    server = ThreadedServer(app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
