"""Last use survives every way a server stops: the examples under each server a user
runs, stopped gracefully (SIGTERM), a worker recycled after N requests, and a worker
killed outright (SIGKILL), which loses at most one ``last_used_interval`` of it.

uvicorn re-raises SIGTERM after its graceful shutdown, so its process dies by the signal
and no ``atexit`` hook runs: last use is written only if the app's lifespan shutdown
writes it, including for apps (raw ASGI, Django) that do not serve lifespan themselves.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from tests.shutdown.harness import BIN, EXAMPLES, FD, Served, record, wait_for
from tokenward import open_store
from tokenward.testing import FrozenClock, MintedToken, TokenFactory

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
UVICORN, GUNICORN, HYPERCORN = (str(BIN / name) for name in ("uvicorn", "gunicorn", "hypercorn"))
QUIET = ("--log-level", "warning")
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"  # uvicorn.workers is deprecated for it
DJANGO = EXAMPLES / "django_project"
INTERVAL = 0.5  # the SIGKILL test's last-use interval, in seconds


@dataclasses.dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    cwd: Path = EXAMPLES
    env: tuple[tuple[str, str], ...] = ()


def uvicorn(app: str, *options: str, cwd: Path = EXAMPLES) -> Launch:
    env = (("DJANGO_SETTINGS_MODULE", "project.settings"),) if cwd == DJANGO else ()
    return Launch((UVICORN, "--fd", FD, *QUIET, *options, app), cwd, env)


def gunicorn(app: str, *options: str, cwd: Path = EXAMPLES) -> Launch:
    return Launch((GUNICORN, "--bind", f"fd://{FD}", *QUIET, *options, app), cwd)


GRACEFUL = [
    pytest.param(uvicorn("asgi_app:app"), id="uvicorn-asgi"),
    pytest.param(
        uvicorn("asgi_app:app", "--http", "httptools", "--loop", "uvloop"),
        id="uvicorn-httptools-uvloop-asgi",
    ),
    pytest.param(
        uvicorn("starlette_app:app"),
        id="uvicorn-starlette",
    ),
    pytest.param(uvicorn("fastapi_app:app"), id="uvicorn-fastapi"),
    pytest.param(uvicorn("project.asgi:application", cwd=DJANGO), id="uvicorn-django"),
    pytest.param(
        uvicorn("project.asgi:application", "--http", "httptools", "--loop", "uvloop", cwd=DJANGO),
        id="uvicorn-httptools-uvloop-django",
    ),
    pytest.param(
        Launch((HYPERCORN, "--bind", f"fd://{FD}", *QUIET, "asgi_app:app")), id="hypercorn-asgi"
    ),
    pytest.param(gunicorn("wsgi_app:app", "--workers", "2"), id="gunicorn-sync-wsgi"),
    pytest.param(
        gunicorn("asgi_app:app", "--workers", "2", "--worker-class", UVICORN_WORKER),
        id="gunicorn-uvicorn-worker-asgi",
    ),
]

# Each worker exits after 3 requests and is replaced; the master keeps serving.
RECYCLING = [
    pytest.param(
        uvicorn("asgi_app:app", "--workers", "2", "--limit-max-requests", "3"),
        id="uvicorn-workers",
    ),
    pytest.param(
        gunicorn("wsgi_app:app", "--workers", "2", "--max-requests", "3"), id="gunicorn-sync"
    ),
    pytest.param(
        gunicorn(
            "asgi_app:app",
            "--workers",
            "2",
            "--max-requests",
            "3",
            "--worker-class",
            UVICORN_WORKER,
        ),
        id="gunicorn-uvicorn-worker",
    ),
]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tokens.db'}"


def mint(store_url: str, *names: str) -> list[MintedToken]:
    """Tokens minted into the server's SQLite file before it starts."""
    store = open_store(store_url)
    try:
        factory = TokenFactory(store, FrozenClock(0))
        return [factory.mint("alice", name) for name in names]
    finally:
        store.close()


def serve(launch: Launch, store_url: str, tmp_path: Path) -> Served:
    return Served(launch.argv, launch.cwd, store_url, tmp_path / "server.log", **dict(launch.env))


def assert_used_since(store_url: str, token: MintedToken, since: float, output: str) -> int:
    stored = record(store_url, token)
    assert stored.last_used_at is not None, f"last use lost\n{output}"
    assert stored.last_used_at >= int(since)
    assert stored.last_used_ip == "127.0.0.1"
    return stored.last_used_at


def assert_graceful(status: int, output: str) -> None:
    # uvicorn ends by re-raising SIGTERM after its graceful shutdown; the others exit 0.
    assert status in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("launch", GRACEFUL)
def test_a_graceful_stop_keeps_last_use(launch: Launch, store_url: str, tmp_path: Path) -> None:
    (token,) = mint(store_url, "graceful")
    started = time.time()
    server = serve(launch, store_url, tmp_path)
    try:
        server.use(token, 20)
        # 60 s from the default interval: nothing is written before the stop but by it.
        assert record(store_url, token).last_used_at is None
        status = server.stop()
    finally:
        server.close()
    output = server.output()
    assert_graceful(status, output)
    assert_used_since(store_url, token, started, output)


def test_a_worker_stopping_at_its_request_limit_keeps_last_use(
    store_url: str, tmp_path: Path
) -> None:
    """``uvicorn --limit-max-requests`` alone: the process ends by itself (a supervisor
    such as systemd starts the next one)."""
    (token,) = mint(store_url, "limited")
    started = time.time()
    server = serve(uvicorn("asgi_app:app", "--limit-max-requests", "5"), store_url, tmp_path)
    try:
        server.use(token, 5)
        status = server.wait()
    finally:
        server.close()
    output = server.output()
    assert status == 0, output
    assert "Traceback" not in output, output
    assert_used_since(store_url, token, started, output)


@pytest.mark.parametrize("launch", RECYCLING)
def test_recycled_workers_keep_last_use(launch: Launch, store_url: str, tmp_path: Path) -> None:
    early, late = mint(store_url, "early", "late")
    started = time.time()
    server = serve(launch, store_url, tmp_path)
    try:
        server.use(early, 8)

        def written_by_a_recycled_worker() -> bool:
            # More requests make the workers reach their limit; only a worker's exit can
            # write the early uses before the 60 s interval.
            assert server.get("/health")[0] == 200
            return record(store_url, early).last_used_at is not None

        assert wait_for(written_by_a_recycled_worker, 30), server.output()
        server.use(late, 3)  # served by the replacements, written when they stop
        status = server.stop()
    finally:
        server.close()
    output = server.output()
    assert_graceful(status, output)
    assert_used_since(store_url, early, started, output)
    assert_used_since(store_url, late, started, output)


def test_a_killed_worker_loses_at_most_one_interval(store_url: str, tmp_path: Path) -> None:
    """SIGKILL runs no shutdown at all: what is lost is what the worker noted since its
    last background write, so a use older than one interval is already in the store."""
    early, late = mint(store_url, "early", "late")
    launch = gunicorn(
        "interval_app:app", "--workers", "1", "--worker-class", UVICORN_WORKER, cwd=HERE
    )
    server = Served(
        launch.argv,
        launch.cwd,
        store_url,
        tmp_path / "server.log",
        SHUTDOWN_TEST_LAST_USED_INTERVAL=str(INTERVAL),
    )
    try:
        started = time.time()
        (pid,) = server.use(early, 5)
        used = time.monotonic()
        # Polled, not slept: the background writer stores it within one interval (the
        # slack is for a loaded machine; the 60 s default would miss this by far).
        assert wait_for(lambda: record(store_url, early).last_used_at is not None, INTERVAL + 5)
        assert time.monotonic() - used < INTERVAL + 5
        written = assert_used_since(store_url, early, started, server.output())
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
        assert pid not in server.use(late, 3)  # the master replaced the killed worker
        status = server.stop()
    finally:
        server.close()
    output = server.output()
    assert_graceful(status, output)
    assert record(store_url, early).last_used_at == written  # the kill took nothing away
    assert_used_since(store_url, late, started, output)
