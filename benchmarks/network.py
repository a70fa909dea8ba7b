"""Section 8: PostgreSQL and Redis against their own driver, and their cache against the
memory store, measured side by side in one run (issue 15's targets).

Per store and per mode (sync: ``Authenticator.authenticate``; async: ``authenticate_async``,
which awaits the store's asyncio driver), five things are timed:

- ``round_trip``: the driver's cheapest request on the store's own connections: psycopg's
  ``SELECT 1`` on a connection checked out of the store's pool and given back as ``get``
  does it (``getconn`` / ``putconn``), redis-py's ``PING`` on the store's client;
- ``read``: the store's own read of that token (``get`` / ``aget``), the part of ``warm``
  that is the store's;
- ``warm``: a warm token through the authenticator (one store read, no argon2);
- ``cached``: the same through ``?tokenward_cache=5`` (stores/cache.py), once its change
  feed listens;
- ``memory``: a warm token on the memory store, the in-process ceiling.

They are measured in interleaved rounds (round trip, read, warm, cached, memory, then again),
so drift on a noisy machine hits them all alike. Figures are medians over rounds; the two
ratios, ``warm / round_trip`` (target ≤ 1.5) and ``cached / memory`` (target ≤ 1.3), are
taken round by round and then the median, as section 4 does.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.inprocess import atimed, bench_url, drop_bench_store, open_bench_store, timed
from tokenward import Authenticator, RequestInfo, Settings, TokenStore, open_store
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, TokenFactory

KINDS = ("postgres", "redis")
MODES = ("sync", "async")
MEASURES = ("round_trip", "read", "warm", "cached", "memory")
CACHE_SECONDS = 5
# Issue 15: (ratio, numerator, denominator, at most).
TARGETS = (
    ("warm_vs_round_trip", "warm", "round_trip", 1.5),
    ("cached_vs_memory", "cached", "memory", 1.3),
)
FEED_WAIT_S = 10.0


def round_trips(kind: str, store: TokenStore) -> tuple[Callable[[], object], Any]:
    """(sync call, coroutine function): one driver round trip on the store's own clients.

    The store's private handles are used on purpose: the figure is the floor under ``get``
    and ``aget``, so it must go through the same pool or client they go through."""
    if kind == "postgres":
        from tokenward.stores.postgres import PostgresStore

        assert isinstance(store, PostgresStore)

        # Checked out and given back as get and aget do (getconn / putconn, not the pool's
        # connection(), whose exit commits): the cheapest request on those connections.
        def select_one() -> object:
            conn = store._pool.getconn()
            try:
                return conn.execute("SELECT 1").fetchone()
            finally:
                store._pool.putconn(conn)

        async def select_one_async() -> object:
            pool = await store._async()  # as aget: the pool of the running loop
            conn = await pool.getconn()
            try:
                return await (await conn.execute("SELECT 1")).fetchone()
            finally:
                await pool.putconn(conn)

        return select_one, select_one_async
    from tokenward.stores.redis import RedisStore

    assert isinstance(store, RedisStore)

    async def ping_async() -> object:
        return await store._async_script().registered_client.ping()  # aget's client

    return store._client.ping, ping_async


def _authenticator(store: TokenStore) -> Authenticator:
    return Guard(
        store, Settings(argon2=FAST_ARGON2), audit=None, background_flush=False
    ).authenticator


def _listening(store: TokenStore) -> bool:
    """Waits (bounded) for a cached store's change feed: until then it serves nothing."""
    pause = threading.Event()
    for _ in range(int(FEED_WAIT_S / 0.02)):
        if getattr(store, "listening", False):
            return True
        pause.wait(0.02)
    return False


def network_targets(
    kinds: Sequence[str], iterations: int, rounds: int = 3, warmup: int = 200
) -> list[dict[str, Any]]:
    """Section 8: one row per (store, mode), or a skipped row per store with the reason.
    ``iterations``: per figure, split over ``rounds``."""
    rows: list[dict[str, Any]] = []
    per_round = max(iterations // rounds, 1)
    with tempfile.TemporaryDirectory() as directory:
        for kind in kinds:
            try:
                rows += _store_rows(kind, directory, per_round, rounds, warmup)
            except Exception as exc:  # noqa: BLE001 - reported as skipped, with the reason
                rows.append({"store": kind, "skipped": f"{type(exc).__name__}: {exc}"})
    return rows


def _store_rows(
    kind: str, directory: str, per_round: int, rounds: int, warmup: int
) -> list[dict[str, Any]]:
    tag = f"twbench{uuid.uuid4().hex[:8]}"
    store = open_bench_store(kind, directory, tag)
    others: list[TokenStore] = []  # the cached view of the same schema/prefix, the memory one
    auths: dict[str, tuple[Authenticator, RequestInfo]] = {}
    runner = asyncio.Runner()
    try:
        cached = open_store(f"{bench_url(kind, directory, tag)}&tokenward_cache={CACHE_SECONDS}")
        others.append(cached)
        memory = open_store("memory://")
        others.append(memory)
        if not _listening(cached):
            return [{"store": kind, "skipped": f"its change feed was not up in {FEED_WAIT_S} s"}]
        token = TokenFactory(store).mint()
        header, digest = token.header, token.created.record.digest
        auths["warm"] = (_authenticator(store), RequestInfo("GET", "/", (header,), "192.0.2.1"))
        auths["cached"] = (_authenticator(cached), auths["warm"][1])
        header = TokenFactory(memory).mint().header
        auths["memory"] = (_authenticator(memory), RequestInfo("GET", "/", (header,), "192.0.2.1"))
        sync_trip, async_trip = round_trips(kind, store)
        calls: dict[str, dict[str, Any]] = {
            "sync": {"round_trip": sync_trip, "read": functools.partial(store.get, digest)},
            "async": {"round_trip": async_trip, "read": functools.partial(store.aget, digest)},
        }
        for name, (auth, request) in auths.items():
            calls["sync"][name] = functools.partial(auth.authenticate, request)
            calls["async"][name] = functools.partial(auth.authenticate_async, request)
            assert auth.authenticate(request).allowed  # the one argon2 run, before timing
            assert runner.run(auth.authenticate_async(request)).allowed
        before = sum(auth.verifications.computations for auth, _ in auths.values())
        measured: dict[str, list[dict[str, dict[str, float]]]] = {mode: [] for mode in MODES}
        for _ in range(rounds):
            for mode in MODES:
                measured[mode].append(
                    {
                        measure: timed(calls[mode][measure], per_round, warmup)
                        if mode == "sync"
                        else runner.run(atimed(calls[mode][measure], per_round, warmup))
                        for measure in MEASURES
                    }
                )
        argon2 = sum(auth.verifications.computations for auth, _ in auths.values()) - before
        return [
            {"store": kind, "mode": mode, **summarize_rounds(measured[mode]), "argon2_runs": argon2}
            for mode in MODES
        ]
    finally:
        for auth, _ in auths.values():
            runner.run(auth.aclose())  # the store's asyncio clients, then the guard
        for other in others:
            runner.run(other.aclose())
            other.close()
        runner.run(store.aclose())
        runner.close()
        drop_bench_store(store)


def summarize_rounds(rounds: Sequence[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Medians over rounds of each figure, and each target's ratio paired by round, then
    the median, with whether it is met. ``rounds``: per round, measure -> timed()."""
    row: dict[str, Any] = {
        measure: {
            stat: statistics.median(r[measure][stat] for r in rounds)
            for stat in ("median_us", "p99_us")
        }
        for measure in MEASURES
    }
    for ratio, numerator, denominator, at_most in TARGETS:
        value = statistics.median(
            r[numerator]["median_us"] / r[denominator]["median_us"] for r in rounds
        )
        row[ratio] = value
        row[f"{ratio}_met"] = value <= at_most
    row["rounds"] = list(rounds)
    return row
