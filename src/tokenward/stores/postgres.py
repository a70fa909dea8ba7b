"""PostgreSQL, for many workers on many hosts (psycopg 3 with a connection pool).

The schema is created and upgraded only by ``migrate()`` (``tokenward migrate``), never at
request time: a store whose schema is missing or old says so in a ``StoreError``. Every
driver error becomes ``StoreError`` raised from it; the middleware turns that into a 503.
Timeouts are short, so an outage is reported in seconds rather than hanging workers.

A request is one query (psycopg prepares it once it repeats) answering one text value: the
row as a JSON array in ``rows.COLUMNS`` order, one value to send and load instead of
eighteen. That answer is decoded once per distinct answer: the same text gives back the very
record object decoded from it before, so that a token nobody changed is the same object
request after request (the authenticator's warm path rests on that), and any change, in any
process, gives new text and so a new record.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import (
    ConfigurationError,
    DuplicateTokenError,
    StoreError,
    TokenNotFoundError,
)
from tokenward.stores.base import USAGE_DAYS, TokenStore, Usage
from tokenward.stores.rows import (
    COLUMN_LIST,
    assignments,
    from_row,
    placeholders,
    saved_values,
    to_row,
)
from tokenward.stores.url import redact_url, split_store_url

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

SCHEMA_VERSION = 3  # 2: the readonly column; 3: revoked_at, revoked_reason, tokenward_usage
# How many decoded answers ``get``/``aget`` keep (all dropped when full): one per token in use.
DECODED_LIMIT = 4096
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_COLUMNS = COLUMN_LIST
# From each older version to the next ({table}: the schema's table), under the migrate lock
# (new tables come from the CREATE TABLE IF NOT EXISTS that runs first).
_UPGRADES: dict[str, tuple[str, ...]] = {
    "1": ("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS readonly BOOLEAN NOT NULL DEFAULT FALSE",),
    "2": (
        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS revoked_at BIGINT",
        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS revoked_reason TEXT",
    ),
}


class PostgresStore(TokenStore):
    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 3.0,
    ) -> None:
        if _IDENT.fullmatch(schema) is None:
            raise ConfigurationError(f"invalid PostgreSQL schema name {schema!r}")
        self.schema = schema
        self._table = f'"{schema}".tokenward_tokens'
        self._meta = f'"{schema}".tokenward_meta'
        self._usage = f'"{schema}".tokenward_usage'
        self._conninfo = conninfo
        self._timeout = timeout
        kwargs = {"connect_timeout": max(1, int(timeout)), "autocommit": True}
        self._pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs=kwargs,
            open=False,
        )
        self._async_pool: tuple[asyncio.AbstractEventLoop, AsyncConnectionPool] | None = None
        self._async_sizes = (min_size, max_size)
        self._opened = False
        self.channel = f"tokenward_{schema}"
        as_json = f"json_build_array({_COLUMNS})::text"
        self._get_sql = (
            f"SELECT {as_json} FROM {self._table} WHERE digest = %s "  # noqa: S608
            f"UNION ALL SELECT {as_json} FROM {self._table} WHERE previous_digest = %s"
        )
        # The get query's answer (text) to the record decoded from it: see the docstring.
        self._decoded: dict[str, TokenRecord] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """``postgresql://user@host/db?tokenward_schema=name``: every other parameter goes to
        libpq as written (``tokenward.stores.url.split_store_url``)."""
        parts = split_store_url(url, ("tokenward_schema",))
        if parts.schema is not None:
            options.setdefault("schema", parts.schema)
        return cls(parts.driver_url, **options)

    def __repr__(self) -> str:
        host = redact_url(re.sub(r"//[^@/]*@", "//", self._conninfo))  # never a password
        return f"PostgresStore({host!r}, schema={self.schema!r})"

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> str:
        """Create or upgrade the schema; safe to run again and from several hosts at once."""
        with self._cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('tokenward migrate'))")
            try:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._meta} "
                    "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                cur.execute(f"""
                    CREATE TABLE IF NOT EXISTS {self._table} (
                        id TEXT PRIMARY KEY,
                        realm TEXT NOT NULL,
                        username TEXT NOT NULL,
                        name TEXT NOT NULL,
                        digest TEXT NOT NULL UNIQUE,
                        verifier TEXT NOT NULL,
                        created_at BIGINT NOT NULL,
                        expires_at BIGINT,
                        acls JSONB NOT NULL,
                        whitelist_ips JSONB NOT NULL,
                        last_used_at BIGINT,
                        last_used_ip TEXT,
                        previous_digest TEXT UNIQUE,
                        previous_verifier TEXT,
                        previous_until BIGINT,
                        readonly BOOLEAN NOT NULL DEFAULT FALSE,
                        revoked_at BIGINT,
                        revoked_reason TEXT,
                        UNIQUE (realm, username, name)
                    )""")
                # Deleting a token deletes its counts; a count for a token deleted meanwhile
                # is refused rather than left behind.
                cur.execute(f"""
                    CREATE TABLE IF NOT EXISTS {self._usage} (
                        token_id TEXT NOT NULL REFERENCES {self._table} (id) ON DELETE CASCADE,
                        day INTEGER NOT NULL,
                        requests BIGINT NOT NULL,
                        PRIMARY KEY (token_id, day)
                    )""")
                cur.execute(
                    f"CREATE INDEX IF NOT EXISTS tokenward_usage_day ON {self._usage} (day)"
                )
                cur.execute(
                    f"INSERT INTO {self._meta} (key, value) VALUES ('schema_version', %s) "  # noqa: S608
                    "ON CONFLICT (key) DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
                created = cur.rowcount == 1
                cur.execute(f"SELECT value FROM {self._meta} WHERE key = 'schema_version'")  # noqa: S608
                row = cur.fetchone()
                found = version = None if row is None else str(row[0])
                while version in _UPGRADES:
                    for statement in _UPGRADES[version]:
                        cur.execute(statement.format(table=self._table))
                    version = str(int(version) + 1)
                if version != found:
                    cur.execute(
                        f"UPDATE {self._meta} SET value = %s WHERE key = 'schema_version'",  # noqa: S608
                        (version,),
                    )
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext('tokenward migrate'))")
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self!r}: schema version {found} is not {SCHEMA_VERSION}")
        if created:
            return f"created schema version {SCHEMA_VERSION}"
        if version != found:
            return f"upgraded schema version {found} to {version}"
        return f"schema version {SCHEMA_VERSION} is up to date"

    def drop(self) -> None:
        """Remove tokenward's tables (tests and uninstalls)."""
        with self._cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._usage}, {self._table}, {self._meta}")

    # -- request path ---------------------------------------------------------------------

    # The two reads take a connection and give it back themselves rather than through the
    # pool's ``connection()``, whose exit commits (nothing to commit on these autocommit
    # connections, yet it takes the connection's lock and runs psycopg's commit steps);
    # ``putconn`` still discards a connection that broke or was left mid-query.

    def get(self, digest: str) -> TokenRecord | None:
        try:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
            conn = self._pool.getconn()
            try:
                row = conn.execute(self._get_sql, (digest, digest)).fetchone()
            finally:
                self._pool.putconn(conn)
        except psycopg.Error as exc:  # PoolTimeout and PoolClosed included
            raise self._error(exc) from exc
        return None if row is None else self._record(row[0])

    async def aget(self, digest: str) -> TokenRecord | None:
        current = self._async_pool
        try:
            if current is not None and current[0] is asyncio.get_running_loop():
                pool = current[1]
            else:
                pool = await self._async()
            conn = await pool.getconn()
            try:
                cur = await conn.execute(self._get_sql, (digest, digest))
                row = await cur.fetchone()
            finally:
                await pool.putconn(conn)
        except psycopg.Error as exc:  # PoolTimeout and PoolClosed included
            raise self._error(exc) from exc
        return None if row is None else self._record(row[0])

    def _record(self, text: str) -> TokenRecord:
        """The record of the get query's answer: decoded once per distinct answer."""
        record = self._decoded.get(text)
        if record is None:
            record = from_row(json.loads(text))
            decoded = self._decoded
            if len(decoded) >= DECODED_LIMIT:
                decoded.clear()
            decoded[text] = record
        return record

    def record_usage(self, usages: Sequence[Usage]) -> None:
        if not usages:
            return
        oldest = max(u.at for u in usages) // 86_400 - USAGE_DAYS + 1
        counts = [(u.token_id, day, n, u.token_id) for u in usages for day, n in u.counts]
        with self._cursor(transaction=True) as cur:
            cur.executemany(
                f"UPDATE {self._table} SET last_used_at = %s, last_used_ip = %s "  # noqa: S608
                "WHERE id = %s AND (last_used_at IS NULL OR last_used_at <= %s)",
                [(u.at, u.ip, u.token_id, u.at) for u in usages],
            )
            if counts:
                # Added, never overwritten, so that hosts flushing at once add up.
                cur.executemany(
                    f"INSERT INTO {self._usage} AS u (token_id, day, requests) "  # noqa: S608
                    f"SELECT %s, %s, %s WHERE EXISTS (SELECT 1 FROM {self._table} WHERE id = %s) "
                    "ON CONFLICT (token_id, day) DO UPDATE SET requests = u.requests + "
                    "EXCLUDED.requests",
                    counts,
                )
                cur.execute(f"DELETE FROM {self._usage} WHERE day < %s", (oldest,))  # noqa: S608

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        ids = list(dict.fromkeys(token_ids))
        if not ids:
            return {}
        found: dict[str, dict[int, int]] = {}
        with self._cursor() as cur:
            cur.execute(
                f"SELECT token_id, day, requests FROM {self._usage} "  # noqa: S608
                "WHERE day >= %s AND token_id = ANY(%s)",
                (since_day, ids),
            )
            for token_id, day, requests in cur.fetchall():
                found.setdefault(str(token_id), {})[int(day)] = int(requests)
        return found

    # -- management -----------------------------------------------------------------------

    def add(self, record: TokenRecord) -> None:
        with self._cursor() as cur:
            cur.execute(
                f"INSERT INTO {self._table} ({_COLUMNS}) VALUES ({placeholders('%s')})",  # noqa: S608
                to_row(record),
            )
            self._announce(cur)

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {self._table} "  # noqa: S608
                "WHERE realm = %s AND username = %s AND name = %s",
                (realm.value, user, name),
            )
            row = cur.fetchone()
        return None if row is None else from_row(row)

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {self._table} "  # noqa: S608
                "WHERE (%s::text IS NULL OR realm = %s) AND (%s::text IS NULL OR username = %s) "
                "ORDER BY realm, username, name",
                (realm and realm.value, realm and realm.value, user, user),
            )
            return [from_row(row) for row in cur.fetchall()]

    def save(self, record: TokenRecord) -> None:
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {self._table} SET {assignments('%s')} "  # noqa: S608
                "WHERE id = %s",
                (*saved_values(record), record.id),
            )
            if cur.rowcount == 0:
                raise TokenNotFoundError(f"token {record.name!r} no longer exists")
            self._announce(cur)

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {self._table} SET verifier = %s "  # noqa: S608
                "WHERE digest = %s AND verifier = %s",
                (new, digest, old),
            )
            if cur.rowcount == 0:
                return False
            self._announce(cur)
            return True

    def delete(self, token_ids: Iterable[str]) -> int:
        ids = list(token_ids)
        if not ids:
            return 0
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {self._table} WHERE id = ANY(%s)", (ids,))  # noqa: S608
            removed = cur.rowcount
            self._announce(cur)
            return removed

    def delete_user(self, realm: Realm, user: str) -> int:
        with self._cursor() as cur:
            cur.execute(
                f"DELETE FROM {self._table} WHERE realm = %s AND username = %s",  # noqa: S608
                (realm.value, user),
            )
            removed = cur.rowcount
            self._announce(cur)
            return removed

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {self._table} SET username = %s "  # noqa: S608
                "WHERE realm = %s AND username = %s",
                (new, realm.value, old),
            )
            moved = cur.rowcount
            self._announce(cur)
            return moved

    def close(self) -> None:
        self._pool.close()
        self._opened = False

    async def aclose(self) -> None:
        if self._async_pool is not None:
            _, pool = self._async_pool
            self._async_pool = None
            await pool.close()

    # -- change feed (for tokenward.stores.cache.CachedStore) ------------------------------

    def _announce(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT pg_notify(%s, '')", (self.channel,))

    def listen(
        self, on_ready: Callable[[], None], on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        """LISTEN for changes on a dedicated connection until ``stop``; raises if lost."""
        with psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=max(1, int(self._timeout))
        ) as conn:
            conn.execute(f"LISTEN {self.channel}")
            on_ready()
            while not stop.is_set():
                for _ in conn.notifies(timeout=1.0):
                    on_change()

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _cursor(self, *, transaction: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor on a pooled autocommit connection; ``transaction``: everything done
        with it commits together or not at all."""
        try:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
            with self._pool.connection() as conn:
                if transaction:
                    with conn.transaction(), conn.cursor() as cur:
                        yield cur
                else:
                    with conn.cursor() as cur:
                        yield cur
        except (TokenNotFoundError, DuplicateTokenError):
            raise
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> StoreError | DuplicateTokenError:
        if isinstance(exc, pg_errors.UniqueViolation):
            return DuplicateTokenError("a token with that name already exists")
        if isinstance(exc, pg_errors.UndefinedTable):
            return StoreError(f"{self!r}: no tokenward schema here; run `tokenward migrate`")
        if isinstance(exc, pg_errors.UndefinedColumn):
            return StoreError(
                f"{self!r}: the schema is older than this code; run `tokenward migrate`"
            )
        return StoreError(f"{self!r} could not answer: {type(exc).__name__}")

    async def _async(self) -> AsyncConnectionPool:
        """An asyncio pool belongs to one event loop: make one per loop."""
        loop = asyncio.get_running_loop()
        if self._async_pool is None or self._async_pool[0] is not loop:
            low, high = self._async_sizes
            kwargs = {"connect_timeout": max(1, int(self._timeout)), "autocommit": True}
            pool = AsyncConnectionPool(
                self._conninfo,
                min_size=low,
                max_size=high,
                timeout=self._timeout,
                kwargs=kwargs,
                open=False,
            )
            await pool.open(wait=False)
            self._async_pool = (loop, pool)
        return self._async_pool[1]
