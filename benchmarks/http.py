"""Section 4: real servers on 127.0.0.1, each variant loaded by wrk (``-t1 -c16``: one server
worker, the other core left to the load generator).

Every (server, variant, path) target is started once and kept running; the runs are then
interleaved, A, B, C, A, B, C, ... for ``rounds`` rounds, so drift on a noisy machine hits
every variant alike. Reported: the median over rounds of requests/s, p50 and p99 latency and
the server tree's CPU per request (user and system, from /proc), the total of non-2xx
answers and socket errors (both must be 0), and each figure's ratio to the floor's on the
same server and path, taken round by round (paired) and then the median.

``/whoami`` is sent with the variant's token; ``/health`` without one, as a probe sends it.

The Django variants (benchmarks/django_project.py) run where Django deploys run them,
gunicorn's sync worker and uvicorn[standard], and are also compared with a second floor:
the same DRF view with a dict-lookup authentication class (``vs_baseline``), so each
library's own cost shows apart from Django's and DRF's.
"""

from __future__ import annotations

import dataclasses
import importlib.util
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

from benchmarks import apps, django_project
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
    """An authentication layer in front of the inner app (benchmarks/apps.py), or a DRF view
    (benchmarks/django_project.py)."""

    name: str
    label: str
    asgi: str | None  # factory (apps.py, or module:function), or None: not on such servers
    wsgi: str | None
    paths: tuple[str, ...]
    header_from: str = "floor"  # whose token /whoami is sent with (_targets)
    servers: tuple[str, ...] | None = None  # only on these servers (None: all of its kind)
    baseline: str | None = None  # a second floor its ratios are also taken against
    needs: str | None = None  # the module it cannot run without (left out, with the reason)

    def factory(self, server: Server) -> str | None:
        if self.servers is not None and server.name not in self.servers:
            return None
        return self.asgi if server.kind == "asgi" else self.wsgi

    @property
    def django(self) -> bool:
        return any(f and f.startswith(_DJANGO) for f in (self.asgi, self.wsgi))


FLOOR = "floor"
DJANGO_FLOOR = "django-floor"
_DJANGO = "benchmarks.django_project:"
_DJANGO_SERVERS = ("uvicorn", "gunicorn")  # what Django's deployment docs show


def _django(name: str, label: str, factory: str, header_from: str, needs: str) -> Variant:
    return Variant(
        name,
        label,
        f"{_DJANGO}asgi_{factory}",
        f"{_DJANGO}wsgi_{factory}",
        ("/whoami",),
        header_from=header_from,
        servers=_DJANGO_SERVERS,
        baseline=DJANGO_FLOOR,
        needs=needs,
    )


VARIANTS = (
    Variant(FLOOR, "floor (partition + dict)", "asgi_floor", "wsgi_floor", ("/whoami", "/health")),
    Variant(
        "tokenward-sqlite",
        "tokenward, SQLite store",
        "asgi_tokenward_sqlite",
        "wsgi_tokenward_sqlite",
        ("/whoami", "/health"),
        header_from="sqlite",
    ),
    Variant(
        "tokenward-memory",
        "tokenward, memory store",
        "asgi_tokenward_memory",
        "wsgi_tokenward_memory",
        ("/whoami", "/health"),
        header_from="memory",
    ),
    Variant(
        "starlette", "Starlette AuthenticationMiddleware", "asgi_starlette", None, ("/whoami",)
    ),
    _django(DJANGO_FLOOR, "Django floor (DRF, dict lookup)", "floor", FLOOR, "rest_framework"),
    _django(
        "drf-api-key",
        "djangorestframework-api-key",
        "api_key",
        "drf-api-key",
        "rest_framework_api_key",
    ),
    _django("knox", "django-rest-knox", "knox", "knox", "knox"),
    _django(
        "tokenward-drf", "tokenward DRF adapter, SQLite", "tokenward", "sqlite", "rest_framework"
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
    the runner minted, by ``Variant.header_from``."""
    url = f"sqlite:///{directory}/http.db"
    headers = {"sqlite": mint_sqlite(url), FLOOR: write_floor_tokens(directory / "floor.json")}
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    base = {
        **os.environ,
        "PYTHONPATH": path,
        STORE_ENV: url,
        apps.FLOOR_TOKENS_ENV: str(directory / "floor.json"),
        django_project.DB_ENV: str(directory / django_project.DATABASE),
    }
    wanted = [(s, v, v.factory(s)) for s in servers for v in variants if v.factory(s)]
    if any(variant.django for _, variant, _ in wanted):
        headers.update(django_project.set_up_apart(directory, base))
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
        if variant.header_from == "memory":  # minted by the server itself
            name = f"{running.server.name}-{variant.name}.header"
            header = wait_for_file(directory / name, running)
        else:
            header = headers[variant.header_from]
        wait_until_serving(running, "/whoami", header)
        for path in variant.paths:  # /health is a probe's request: no header
            wanted = header if path == "/whoami" else None
            targets.append(Target(running.server, variant, path, running, wanted))
    return targets


def choose_variants(names: Sequence[str] | None) -> tuple[list[Variant], dict[str, str]]:
    """The variants named (all by default) with the floors their ratios need, and those
    left out because what they import is not installed, with the reason."""
    named = [v for v in VARIANTS if names is None or v.name in names]
    needed = {FLOOR} | {v.name for v in named} | {v.baseline for v in named if v.baseline}
    chosen, left_out = [], {}
    for variant in (v for v in VARIANTS if v.name in needed):
        if variant.needs and importlib.util.find_spec(variant.needs) is None:
            left_out[variant.name] = f"{variant.needs} is not installed (the bench extra)"
        else:
            chosen.append(variant)
    return chosen, left_out


def http_runs(
    seconds: int,
    rounds: int,
    warmup: int = 1,
    servers: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Section 4. ``servers``/``variants``: names to keep (all by default; the floors are
    always kept, as the ratios need them)."""
    config: dict[str, Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "warmup_s": warmup,
        "connections": CONNECTIONS,
    }
    if shutil.which("wrk") is None:
        return {**config, "skipped": "wrk is not installed (apt-get install wrk)"}
    chosen_servers = [s for s in SERVERS if servers is None or s.name in servers]
    chosen, left_out = choose_variants(variants)
    if left_out:
        config["left_out"] = left_out
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


def _paired(runs: Sequence[dict[str, float]], floor: Target) -> dict[str, float]:
    return {
        metric: _median(
            [_ratio(r[metric], f[metric]) for r, f in zip(runs, floor.rounds, strict=True)]
        )
        for metric in RATIO_METRICS
    }


def summarize(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """One row per target: medians over rounds, totals of errors, paired ratios to the floor
    on the same server and path (``/whoami`` to the floor's ``/whoami``, ``/health`` to its
    ``/health``), and for a variant with a baseline (the Django floor) to that as well."""
    by_name = {(t.server.name, t.variant.name, t.path): t for t in targets}
    rows = []
    for target in targets:
        runs = target.rounds
        row: dict[str, Any] = {"server": target.server.name, "variant": target.variant.name}
        row["path"] = target.path
        for metric in (*RATIO_METRICS, "cpu_user_us", "cpu_system_us"):
            row[metric] = _median([r[metric] for r in runs])
        for metric in ("requests", "non_2xx", "socket_errors"):
            row[metric] = int(sum(r[metric] for r in runs))
        floor = by_name.get((target.server.name, FLOOR, target.path))
        if floor is not None:
            row["vs_floor"] = _paired(runs, floor)
        baseline = target.variant.baseline
        if baseline is not None and (
            found := by_name.get((target.server.name, baseline, target.path))
        ):
            row["baseline"] = baseline
            row["vs_baseline"] = _paired(runs, found)
        row["rounds"] = runs
        rows.append(row)
    return rows
