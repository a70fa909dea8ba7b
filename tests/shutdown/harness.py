"""Real servers in subprocesses on 127.0.0.1, on a socket the test binds and passes by
descriptor: requests sent before the server is up wait in the listen backlog, so no
readiness polling is needed. Stores are SQLite files the test reads after the process is
gone."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tokenward import Realm, open_store
from tokenward.core.tokens import TokenRecord
from tokenward.testing import MintedToken

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
FD = "{fd}"  # replaced in a command line by the listening socket's descriptor


def record(store_url: str, token: MintedToken) -> TokenRecord:
    """The token as the store holds it now, read afresh (another process wrote it)."""
    store = open_store(store_url)
    try:
        found = store.find(Realm.CPANEL, token.created.record.user, token.created.record.name)
    finally:
        store.close()
    assert found is not None
    return found


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` every 50 ms for at most ``seconds``; whether it became true."""
    pause = threading.Event()
    for _ in range(int(seconds / 0.05) + 1):
        if condition():
            return True
        pause.wait(0.05)
    return condition()


class Served:
    """One server process. Its output goes to a file (a pipe nobody reads could fill up)."""

    def __init__(
        self, argv: Sequence[str], cwd: Path, store_url: str, log: Path, **env: str
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.set_inheritable(True)
        self.port: int = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        self.log = log
        environ = {**os.environ, "TOKENWARD_STORE": store_url, **env}
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [part.replace(FD, str(fd)) for part in argv],
                cwd=cwd,
                pass_fds=(fd,),
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, token: MintedToken | None = None) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path, headers={} if token is None else token.headers)
            response = connection.getresponse()
            body = response.read()
            return response.status, json.loads(body) if body.startswith(b"{") else {}
        finally:
            connection.close()

    def use(self, token: MintedToken, times: int) -> set[object]:
        """``times`` authenticated requests to /whoami; the pids that answered (if told)."""
        pids: set[object] = set()
        for _ in range(times):
            status, body = self.get("/whoami", token)
            assert status == 200, self.output()
            pids.add(body.get("pid"))
        return pids

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal the process and wait for it to be gone; its exit status."""
        self.process.send_signal(sig)
        return self.wait()

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=60)
        finally:
            self.sock.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.sock.close()
