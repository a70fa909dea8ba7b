"""Real worker processes sharing one store (SQLite, PostgreSQL, Redis): revocation holds
in every worker at once, last use converges across workers, and concurrent load loses
nothing."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import Realm, TokenStore, open_store
from tokenward.testing import FrozenClock, MintedToken, TokenFactory

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


class Server:
    """gunicorn with two sync workers on a socket we bound ourselves: requests sent before
    the workers are up wait in the listen backlog, so no readiness polling is needed."""

    def __init__(self, store_url: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "--workers",
                "2",
                "--bind",
                f"fd://{fd}",
                "--chdir",
                str(HERE),
                "--graceful-timeout",
                "10",
                "--log-level",
                "warning",
                "served_app:app",
            ],
            pass_fds=(fd,),
            env={**os.environ, "TOKENWARD_STORE": store_url},
            stderr=subprocess.PIPE,
            text=True,
        )

    def get(self, token: MintedToken | None) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/whoami", headers={} if token is None else token.headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=60)
        self.sock.close()
        return stderr


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One shared store per test, of each kind; network ones isolated by schema/prefix."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    tag = f"tw_mp_{uuid.uuid4().hex[:10]}"
    if request.param == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
        url = f"{POSTGRES_URL}?tokenward_schema={tag}"
    else:
        require_service("Redis", REDIS_URL, redis_reachable())
        url = f"{REDIS_URL}?tokenward_prefix={tag}:"
    store = open_store(url)
    store.migrate()
    yield url
    if request.param == "postgres":
        with store._cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'DROP SCHEMA "{tag}" CASCADE')
    else:
        store.drop()  # type: ignore[attr-defined]
    store.close()


@pytest.fixture
def served(store_url: str) -> Iterator[tuple[Server, TokenStore]]:
    store = open_store(store_url)
    server = Server(store_url)
    try:
        yield server, store
    finally:
        if server.process.poll() is None:
            server.stop()
        store.close()


def both_workers_answer(server: Server, token: MintedToken) -> set[object]:
    """Concurrent requests: a sync worker serves one at a time, so both must take some."""
    pids: set[object] = set()
    with ThreadPoolExecutor(6) as pool:
        for _ in range(50):
            for status, body in pool.map(lambda _: server.get(token), range(12)):
                assert status == 200
                pids.add(body["pid"])
            if len(pids) == 2:
                break
    return pids


def test_revocation_holds_in_every_worker_at_once(served: tuple[Server, TokenStore]) -> None:
    server, store = served
    token = TokenFactory(store, FrozenClock(0)).mint()
    assert len(both_workers_answer(server, token)) == 2
    assert store.delete([token.created.record.id]) == 1
    statuses = {server.get(token)[0] for _ in range(60)}
    assert statuses == {401}
    assert "Traceback" not in server.stop()


def test_concurrent_load_loses_nothing_and_last_use_converges_at_shutdown(
    served: tuple[Server, TokenStore],
) -> None:
    server, store = served
    factory = TokenFactory(store, FrozenClock(0))
    tokens = [factory.mint(name=f"load-{i}") for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: server.get(tokens[i % 4])[0], range(400)))
    assert results.count(200) == 400  # a "database is locked" would have been a 503
    stderr = server.stop()  # graceful: every worker flushes its pending last use
    assert "locked" not in stderr
    for token in tokens:
        record = store.find(Realm.CPANEL, "alice", token.created.record.name)
        assert record is not None
        assert record.last_used_at is not None
        assert record.last_used_ip == "127.0.0.1"
