"""In-process costs: the authenticator alone, per store, with statistics per call."""

from __future__ import annotations

import functools
import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tokenward import RequestInfo, Settings, TokenStore, open_store
from tokenward.core.crypto import Argon2Profile, SecretHasher
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, TokenFactory

POSTGRES = os.environ.get("TOKENWARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TOKENWARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def timed(call: Callable[[], object], iterations: int, warmup: int = 500) -> dict[str, float]:
    """Median and p99 in microseconds, timing each call (GC off while measuring)."""
    for _ in range(warmup):
        call()
    samples = []
    gc.disable()
    try:
        for _ in range(iterations):
            started = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - started)
    finally:
        gc.enable()
    return _summary(samples)


async def atimed(
    call: Callable[[], Awaitable[object]], iterations: int, warmup: int = 500
) -> dict[str, float]:
    """``timed`` for a coroutine function, awaited on the running loop."""
    for _ in range(warmup):
        await call()
    samples = []
    gc.disable()
    try:
        for _ in range(iterations):
            started = time.perf_counter_ns()
            await call()
            samples.append(time.perf_counter_ns() - started)
    finally:
        gc.enable()
    return _summary(samples)


def _summary(samples: list[int]) -> dict[str, float]:
    samples.sort()
    return {
        "median_us": statistics.median(samples) / 1000,
        "p99_us": samples[max(int(len(samples) * 0.99) - 1, 0)] / 1000,
    }


def bench_url(kind: str, directory: str, tag: str | None = None) -> str:
    """A store URL of its own (``tag``: a fresh schema, key prefix or file name)."""
    tag = tag or f"twbench{uuid.uuid4().hex[:8]}"
    return {
        "memory": "memory://",
        "sqlite": f"sqlite:///{directory}/{tag}.db",
        "postgres": f"{POSTGRES}?tokenward_schema={tag}",
        "redis": f"{REDIS}?tokenward_prefix={tag}:",
    }[kind]


def open_bench_store(kind: str, directory: str, tag: str | None = None) -> TokenStore:
    store = open_store(bench_url(kind, directory, tag))
    migrate = getattr(store, "migrate", None)
    if callable(migrate):
        migrate()
    return store


def drop_bench_store(store: TokenStore) -> None:
    if hasattr(store, "schema"):  # PostgreSQL
        with store._cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'DROP SCHEMA "{store.schema}" CASCADE')
    elif hasattr(store, "drop"):
        store.drop()
    store.close()


def request_cost(kinds: list[str], iterations: int) -> list[dict[str, Any]]:
    """Sections 1 and 2: a warm token, an unknown token, a malformed header, per store."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        for kind in kinds:
            try:
                store = open_bench_store(kind, directory)
            except Exception as exc:  # noqa: BLE001 - reported as skipped, with the reason
                rows.append({"store": kind, "skipped": f"{type(exc).__name__}: {exc}"})
                continue
            token = TokenFactory(store).mint()
            auth = Guard(
                store, Settings(argon2=FAST_ARGON2), audit=None, background_flush=False
            ).authenticator
            warm = RequestInfo("GET", "/", (token.header,), "192.0.2.1")
            unknown = RequestInfo("GET", "/", ("cpanel alice:" + "Q" * 32,), "192.0.2.1")
            malformed = RequestInfo("GET", "/", ("cpanel alice",), "192.0.2.1")
            assert auth.authenticate(warm).allowed
            before = auth.verifications.computations
            for case, request in (("warm", warm), ("unknown", unknown), ("malformed", malformed)):
                result = timed(functools.partial(auth.authenticate, request), iterations)
                rows.append({"store": kind, "case": case, **result})
            argon2_runs = auth.verifications.computations - before
            rows.append({"store": kind, "case": "argon2 runs after warm-up", "count": argon2_runs})
            auth.close()
            drop_bench_store(store)
    return rows


def cold_verification(rounds: int) -> list[dict[str, Any]]:
    """Section 3: one first-time verification with each argon2 profile."""
    rows = []
    for label, profile in (
        ("default (OWASP: 19 MiB, t=2, p=1)", Argon2Profile()),
        ("argon2-cffi default (64 MiB, t=3, p=4)", Argon2Profile.rfc9106_low_memory()),
    ):
        hasher = SecretHasher(profile)
        verifier = hasher.hash("A" * 32)
        result = timed(functools.partial(hasher.verify, verifier, "A" * 32), rounds, warmup=1)
        rows.append({"profile": label, **result})
    return rows


def last_used_writes(seconds: float, interval: float = 1.0) -> dict[str, Any]:
    """Section 6: store writes caused by last-used tracking under sustained load."""
    with tempfile.TemporaryDirectory() as directory:
        store = open_bench_store("sqlite", directory)
        token = TokenFactory(store).mint()
        auth = Guard(
            store, Settings(argon2=FAST_ARGON2, last_used_interval=interval), audit=None
        ).authenticator
        request = RequestInfo("GET", "/", (token.header,), "192.0.2.1")
        requests = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            auth.authenticate(request)
            requests += 1
        writes = auth.usage.writes
        auth.close()
        store.close()
    return {
        "seconds": seconds,
        "interval_s": interval,
        "requests": requests,
        "store_writes": writes,
        "writes_per_s": writes / seconds,
        "max_allowed": int(seconds / interval) + 1,
    }
