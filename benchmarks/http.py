"""Section 4: real servers on 127.0.0.1, each variant loaded by wrk (``-t1 -c16``: one server
worker, the other core left to the load generator).

Every (server, variant, path) target is started once and kept running; the runs are then
interleaved, A, B, C, A, B, C, ... for ``rounds`` rounds, so drift on a noisy machine hits
every variant alike. Reported: the median over rounds of requests/s, p50 and p99 latency and
the server tree's CPU per request (user and system, from /proc), the total of non-2xx
answers and socket errors (both must be 0), and each figure's ratio to the floor's on the
same server and path, taken round by round (paired) and then the median.

``/whoami`` is sent with the variant's token; ``/health`` without one, as a probe sends it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import apps
from benchmarks.servers import (
    CLOCK_TICKS,
    ROOT,
    SERVERS,
    Running,
    Server,
    free_ports,
    serving,
    start,
    tree_cpu,
    wait_for_file,
    wait_until_serving,
)
from tokenward import TokenService, format_authorization, generate_secret, open_store
from tokenward.stores.url import STORE_ENV

CONNECTIONS = 16


@dataclasses.dataclass(frozen=True)
class Variant:
    """An authentication layer in front of the inner app (benchmarks/apps.py)."""

    name: str
    label: str
    asgi: str | None  # factory in benchmarks.apps, or None: not offered on such servers
    wsgi: str | None
    paths: tuple[str, ...]

    def factory(self, server: Server) -> str | None:
        return self.asgi if server.kind == "asgi" else self.wsgi


FLOOR = "floor"
VARIANTS = (
    Variant(FLOOR, "floor (partition + dict)", "asgi_floor", "wsgi_floor", ("/whoami", "/health")),
    Variant(
        "tokenward-sqlite",
        "tokenward, SQLite store",
        "asgi_tokenward_sqlite",
        "wsgi_tokenward_sqlite",
        ("/whoami", "/health"),
    ),
    Variant(
        "tokenward-memory",
        "tokenward, memory store",
        "asgi_tokenward_memory",
        "wsgi_tokenward_memory",
        ("/whoami", "/health"),
    ),
    Variant(
        "starlette", "Starlette AuthenticationMiddleware", "asgi_starlette", None, ("/whoami",)
    ),
)
RATIO_METRICS = ("requests_per_s", "p50_ms", "p99_ms", "cpu_us")


@dataclasses.dataclass
class Target:
    """One thing wrk loads: a path on a running server; ``header`` only for ``/whoami``."""

    server: Server
    variant: Variant
    path: str
    running: Running
    header: str | None
    rounds: list[dict[str, float]] = dataclasses.field(default_factory=list)


# -- wrk ------------------------------------------------------------------------------------


def wrk(port: int, path: str, seconds: int, header: str | None) -> dict[str, float]:
    """One wrk run. Its command line holds the secret, so errors never quote it."""
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if header:
        args += ["-H", f"Authorization: {header}"]
    args.append(f"http://127.0.0.1:{port}{path}")
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk on {path} did not finish in {seconds + 60} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"wrk on {path} failed ({done.returncode}): {done.stderr[-500:]}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict[str, float]:
    """wrk's summary as numbers; a figure wrk left out is NaN (no request finished)."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    done = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests_per_s": float(rps.group(1)) if rps else float("nan"),
        "requests": int(done.group(1)) if done else 0,
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def _latency(output: str, label: str) -> float:
    found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if found is None:
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def measure(target: Target, seconds: int) -> dict[str, float]:
    """wrk, with the server tree's CPU time read right before and right after it."""
    pid = target.running.process.pid
    user0, system0 = tree_cpu(pid)
    result = wrk(target.running.port, target.path, seconds, target.header)
    user1, system1 = tree_cpu(pid)
    per_request = 1e6 / CLOCK_TICKS / result["requests"] if result["requests"] else float("nan")
    result["cpu_user_us"] = (user1 - user0) * per_request
    result["cpu_system_us"] = (system1 - system0) * per_request
    result["cpu_us"] = result["cpu_user_us"] + result["cpu_system_us"]
    return result


# -- the run --------------------------------------------------------------------------------


def _secrets_file(path: Path, content: str) -> None:
    """Throwaway tokens, still only readable by us."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(content)


def mint_sqlite(url: str) -> str:
    """The SQLite variant's token, minted with tokenward's default argon2 (the servers'
    settings too, so no verifier is upgraded mid-run); its header."""
    store = open_store(url)
    try:
        created = TokenService(store).create(apps.USER, apps.TOKEN_NAME)
    finally:
        store.close()
    return format_authorization(created.record.realm, apps.USER, created.secret)


def write_floor_tokens(path: Path) -> str:
    """The floor's (and the Starlette backend's) one token; its header."""
    secret = generate_secret()
    _secrets_file(path, json.dumps({secret: apps.USER}))
    return format_authorization("cpanel", apps.USER, secret)


def _start_all(
    servers: Sequence[Server], variants: Sequence[Variant], directory: Path, started: list[Running]
) -> dict[str, str]:
    """Every server x variant, started at once (they load in parallel, then sit idle while
    the others are measured) into ``started``, which the caller stops. Returns the headers
    the runner minted."""
    url = f"sqlite:///{directory}/http.db"
    headers = {"sqlite": mint_sqlite(url), FLOOR: write_floor_tokens(directory / "floor.json")}
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    base = {
        **os.environ,
        "PYTHONPATH": path,
        STORE_ENV: url,
        apps.FLOOR_TOKENS_ENV: str(directory / "floor.json"),
    }
    wanted = [(s, v, v.factory(s)) for s in servers for v in variants if v.factory(s)]
    for (server, variant, factory), port in zip(wanted, free_ports(len(wanted)), strict=True):
        assert factory is not None
        name = f"{server.name}-{variant.name}"
        env = {**base, apps.HEADER_FILE_ENV: str(directory / f"{name}.header")}
        started.append(start(server, factory, port, env, directory / f"{name}.log"))
    return headers


def _targets(
    started: list[Running], variants: Sequence[Variant], headers: dict[str, str], directory: Path
) -> list[Target]:
    """Waits for each server to answer ``/whoami`` (its one cold argon2 verification)."""
    by_factory = {(v.factory(s), s.name): v for v in variants for s in SERVERS}
    targets = []
    for running in started:
        variant = by_factory[(running.factory, running.server.name)]
        if variant.name == "tokenward-memory":
            name = f"{running.server.name}-{variant.name}.header"
            header = wait_for_file(directory / name, running)
        else:
            header = headers[FLOOR if variant.name in (FLOOR, "starlette") else "sqlite"]
        wait_until_serving(running, "/whoami", header)
        for path in variant.paths:  # /health is a probe's request: no header
            wanted = header if path == "/whoami" else None
            targets.append(Target(running.server, variant, path, running, wanted))
    return targets


def http_runs(
    seconds: int,
    rounds: int,
    warmup: int = 1,
    servers: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Section 4. ``servers``/``variants``: names to keep (all by default; the floor is
    always kept, as the ratios need it)."""
    config = {"seconds": seconds, "rounds": rounds, "warmup_s": warmup, "connections": CONNECTIONS}
    if shutil.which("wrk") is None:
        return {**config, "skipped": "wrk is not installed (apt-get install wrk)"}
    chosen_servers = [s for s in SERVERS if servers is None or s.name in servers]
    chosen = [v for v in VARIANTS if variants is None or v.name in variants or v.name == FLOOR]
    with tempfile.TemporaryDirectory(prefix="tokenward-http-") as name:
        directory = Path(name)
        started: list[Running] = []
        try:
            with serving(started):
                headers = _start_all(chosen_servers, chosen, directory, started)
                targets = _targets(started, chosen, headers, directory)
                if warmup > 0:
                    for target in targets:
                        wrk(target.running.port, target.path, warmup, target.header)
                for _ in range(rounds):
                    for target in targets:
                        target.rounds.append(measure(target, seconds))
        except RuntimeError as exc:  # a server that did not start, wrk failing: the reason
            return {**config, "skipped": str(exc)}
    return {
        **config,
        "servers": {s.name: s.label for s in chosen_servers},
        "variants": {v.name: v.label for v in chosen},
        "rows": summarize(targets),
    }


# -- summary --------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(value: float, floor: float) -> float:
    return value / floor if floor else float("nan")


def summarize(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """One row per target: medians over rounds, totals of errors, paired ratios to the floor
    on the same server and path (``/whoami`` to the floor's ``/whoami``, ``/health`` to its
    ``/health``)."""
    floors = {(t.server.name, t.path): t for t in targets if t.variant.name == FLOOR}
    rows = []
    for target in targets:
        runs = target.rounds
        row: dict[str, Any] = {"server": target.server.name, "variant": target.variant.name}
        row["path"] = target.path
        for metric in (*RATIO_METRICS, "cpu_user_us", "cpu_system_us"):
            row[metric] = _median([r[metric] for r in runs])
        for metric in ("requests", "non_2xx", "socket_errors"):
            row[metric] = int(sum(r[metric] for r in runs))
        floor = floors.get((target.server.name, target.path))
        if floor is not None:
            row["vs_floor"] = {
                metric: _median(
                    [_ratio(r[metric], f[metric]) for r, f in zip(runs, floor.rounds, strict=True)]
                )
                for metric in RATIO_METRICS
            }
        row["rounds"] = runs
        rows.append(row)
    return rows
