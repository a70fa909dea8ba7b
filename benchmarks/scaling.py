"""Section 5: does a store's lookup stay flat from 1,000 to 1,000,000 tokens?

Synthetic rows (random digests, a dummy verifier: argon2 for a million rows would take
hours) are bulk-inserted next to one real token, then the warm request is timed.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
import tempfile
from typing import Any

from benchmarks.inprocess import drop_bench_store, open_bench_store, timed
from tokenward import RequestInfo, Settings, SQLiteStore, TokenStore
from tokenward.guard import Guard
from tokenward.testing import FAST_ARGON2, TokenFactory


def _rows(count: int) -> Any:
    acls, ips = json.dumps(["all"]), json.dumps([])
    for i in range(count):
        yield (
            secrets.token_hex(16),
            "cpanel",
            f"user{i % 5000}",
            f"bulk-{i}",
            secrets.token_hex(16),
            "$argon2id$bulk",
            1000,
            None,
            acls,
            ips,
        )


def _fill(store: TokenStore, count: int) -> None:
    columns = (
        "id, realm, {user}, name, digest, verifier, created_at, expires_at, acls, whitelist_ips"
    )
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as db:
            db.executemany(
                f"INSERT INTO tokenward_tokens ({columns.format(user='username')}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _rows(count),
            )
        return
    with store._cursor() as cur:  # type: ignore[attr-defined]
        table = f'"{store.schema}".tokenward_tokens'  # type: ignore[attr-defined]
        with cur.copy(f"COPY {table} ({columns.format(user='username')}) FROM STDIN") as copy:
            for row in _rows(count):
                copy.write_row(row)


def lookup_scaling(kinds: list[str], sizes: list[int], iterations: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        for kind in kinds:
            for size in sizes:
                try:
                    store = open_bench_store(kind, directory)
                except Exception as exc:  # noqa: BLE001 - reported as skipped
                    rows.append({"store": kind, "tokens": size, "skipped": str(exc)})
                    break
                _fill(store, size - 1)
                token = TokenFactory(store).mint()
                digest = token.created.record.digest
                auth = Guard(
                    store, Settings(argon2=FAST_ARGON2), audit=None, background_flush=False
                ).authenticator
                request = RequestInfo("GET", "/", (token.header,), "192.0.2.1")
                assert auth.authenticate(request).allowed
                uncached = (
                    SQLiteStore(store.path, cache=False)
                    if isinstance(store, SQLiteStore)
                    else store
                )
                rows.append(
                    {
                        "store": kind,
                        "tokens": size,
                        "request": timed(functools.partial(auth.authenticate, request), iterations),
                        "raw_get": timed(functools.partial(uncached.get, digest), iterations),
                    }
                )
                auth.close()
                if uncached is not store:
                    uncached.close()
                drop_bench_store(store)
    return rows
