"""Section 9: section 4's middleware called in-process, with no server and no socket.

Section 4 is what users see, but a server on a shared virtual machine moves its own figures
by 10-20 % from one round to the next, far more than the few microseconds a middleware
adds. Here each ASGI and WSGI variant of section 4 (benchmarks/apps.py, the same factories,
the same inner app) is called directly with the request wrk sends, in interleaved rounds,
and the figure is the median time per request and its excess over the floor's, paired
round by round: the middleware's own cost, steady enough to steer by. Inside a server each
microsecond here costs about two (fewer requests per wake-up, colder caches).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import apps
from benchmarks.http import FLOOR, mint_sqlite, write_floor_tokens
from benchmarks.inprocess import atimed, timed
from tokenward.stores.url import STORE_ENV

VARIANTS = ("floor", "starlette", "tokenward-sqlite", "tokenward-memory")
PATHS = ("/whoami", "/health")
_ASGI = {
    "floor": apps.asgi_floor,
    "starlette": apps.asgi_starlette,
    "tokenward-sqlite": apps.asgi_tokenward_sqlite,
    "tokenward-memory": apps.asgi_tokenward_memory,
}
_WSGI = {
    "floor": apps.wsgi_floor,
    "tokenward-sqlite": apps.wsgi_tokenward_sqlite,
    "tokenward-memory": apps.wsgi_tokenward_memory,
}
_PEER = ("127.0.0.1", 50000)


def shell_costs(iterations: int, rounds: int = 7, warmup: int = 500) -> list[dict[str, Any]]:
    """One row per (shell, variant, path): median µs per request over rounds, and the
    excess over the floor on the same shell and path, paired by round then the median.
    ``iterations``: per figure, split over ``rounds``."""
    per_round = max(iterations // rounds, 1)
    with tempfile.TemporaryDirectory() as name, _environment(Path(name)) as headers:
        built, closers = _build(headers)
        runner = asyncio.Runner()
        try:
            for key, call in built.items():  # every figure is of a 200, never of a refusal
                status = runner.run(call()) if key[0] == "asgi" else call()
                if status != 200:
                    raise RuntimeError(f"{key} answered {status}, not 200")
            samples: dict[tuple[str, str, str], list[float]] = {key: [] for key in built}
            for _ in range(rounds):
                for key, call in built.items():
                    if key[0] == "asgi":
                        figure = runner.run(atimed(call, per_round, warmup))
                    else:
                        figure = timed(call, per_round, warmup)
                    samples[key].append(figure["median_us"])
        finally:
            runner.close()
            for close in closers:
                close()
    return summarize(samples)


def summarize(samples: dict[tuple[str, str, str], list[float]]) -> list[dict[str, Any]]:
    rows = []
    for (shell, variant, path), figures in samples.items():
        floor = samples.get((shell, FLOOR, path))
        row: dict[str, Any] = {
            "shell": shell,
            "variant": variant,
            "path": path,
            "median_us": statistics.median(figures),
        }
        if floor is not None:
            row["over_floor_us"] = statistics.median(
                mine - theirs for mine, theirs in zip(figures, floor, strict=True)
            )
        rows.append(row)
    return rows


@contextmanager
def _environment(directory: Path) -> Iterator[dict[str, str]]:
    """What the factories read (apps.py's docstring), set for this run and then restored;
    the headers of the floor's and the SQLite store's tokens."""
    url = f"sqlite:///{directory}/shells.db"
    headers = {"sqlite": mint_sqlite(url), FLOOR: write_floor_tokens(directory / "floor.json")}
    wanted = {
        STORE_ENV: url,
        apps.FLOOR_TOKENS_ENV: str(directory / "floor.json"),
        apps.HEADER_FILE_ENV: str(directory / "memory.header"),
    }
    before = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield headers
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _build(
    headers: dict[str, str],
) -> tuple[dict[tuple[str, str, str], Callable[[], Any]], list[Callable[[], None]]]:
    calls: dict[tuple[str, str, str], Callable[[], Any]] = {}
    closers: list[Callable[[], None]] = []
    header_file = Path(os.environ[apps.HEADER_FILE_ENV])
    for shell, factories in (("asgi", _ASGI), ("wsgi", _WSGI)):
        for variant in VARIANTS:
            factory = factories.get(variant)
            if factory is None:
                continue
            header_file.unlink(missing_ok=True)  # each memory store mints its own token
            app: Any = factory()
            authenticator = getattr(app, "authenticator", None)
            if authenticator is not None:
                closers.append(authenticator.close)
            if variant == "tokenward-memory":
                header = header_file.read_text()
            else:
                header = headers["sqlite" if variant == "tokenward-sqlite" else FLOOR]
            for path in PATHS if variant != "starlette" else ("/whoami",):
                make = _asgi_call if shell == "asgi" else _wsgi_call
                calls[shell, variant, path] = make(app, path, header)
    return calls, closers


def _asgi_call(app: Any, path: str, header: str) -> Callable[[], Any]:
    raw = header.encode("latin-1")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    status = [0]

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", raw)],
            "client": _PEER,
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        return status[0]

    return call


def _wsgi_call(app: Any, path: str, header: str) -> Callable[[], Any]:
    status = [0]

    def start_response(line: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
        status[0] = int(line.split(" ", 1)[0])

    def call() -> int:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": _PEER[0],
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_AUTHORIZATION": header,
            "wsgi.url_scheme": "http",
        }
        for _ in app(environ, start_response):
            pass
        return status[0]

    return call


def shell_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "9. section 4's middleware in-process, no server (median µs per request over "
        "interleaved rounds; over: minus the floor's, paired by round)"
    ]
    for row in rows:
        over = row.get("over_floor_us")
        extra = "" if over is None else f"   over the floor {over:+6.2f} µs"
        lines.append(
            f"  {row['shell']:5} {row['variant']:18} {row['path']:8} "
            f"{row['median_us']:7.2f} µs{extra}"
        )
    return lines
