"""The embedded default: one SQLite file, shared safely by threads and worker processes.

WAL lets readers proceed while one process writes; a busy timeout makes writers queue instead
of failing with "database is locked". Each thread has its own connection.

The request path can skip the SQL query entirely: each connection keeps the records it has
read, and asks ``PRAGMA data_version`` (a few microseconds, no table access) whether any
other connection has committed since. If one has, the cache is dropped, so a revocation made
by any process is honoured on the very next request.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import ConfigurationError, DuplicateTokenError, StoreError, TokenNotFoundError
from tokenward.stores.base import TokenStore, Usage
from tokenward.stores.rows import COLUMN_LIST, assignments, from_row, saved_values, to_row

__all__ = ["SQLiteStore"]

SCHEMA_VERSION = 1
_COLUMNS = COLUMN_LIST
_SAVE = f"UPDATE tokenward_tokens SET {assignments('?')} WHERE id = ?"  # noqa: S608
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokenward_tokens (
    id TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    verifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    acls TEXT NOT NULL,
    whitelist_ips TEXT NOT NULL,
    last_used_at INTEGER,
    last_used_ip TEXT,
    previous_digest TEXT UNIQUE,
    previous_verifier TEXT,
    previous_until INTEGER,
    UNIQUE (realm, username, name)
);
CREATE TABLE IF NOT EXISTS tokenward_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_CACHE_LIMIT = 10_000
_GET = (
    f"SELECT {_COLUMNS} FROM tokenward_tokens WHERE digest = ? "  # noqa: S608
    f"UNION ALL SELECT {_COLUMNS} FROM tokenward_tokens WHERE previous_digest = ?"
)


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    pid: int = 0
    data_version: int = -1
    cache: dict[str, TokenRecord | None]


class SQLiteStore(TokenStore):
    def __init__(
        self, path: str | os.PathLike[str], *, cache: bool = True, busy_timeout: float = 10.0
    ) -> None:
        self.path = str(path)
        self._cache = cache
        self._timeout = busy_timeout
        self._local = _Local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if self.path == ":memory:" or not self.path:
            # Each thread has its own connection, so each would see its own empty database.
            raise ConfigurationError("SQLiteStore needs a file; use MemoryStore for memory")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._write() as db:
            for statement in _SCHEMA.split(";"):  # executescript would commit early
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO tokenward_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        version = self._read_one("SELECT value FROM tokenward_meta WHERE key='schema_version'", ())
        if version is None or str(version[0]) != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: schema version {version} is not {SCHEMA_VERSION}")

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- request path ---------------------------------------------------------------------

    def get(self, digest: str) -> TokenRecord | None:
        try:
            db = self._connection()
            if not self._cache:
                return self._select(db, digest)
            local = self._local
            if digest not in local.cache:
                # Unknown tokens (and first reads) cost the query alone. A found record is
                # read again after data_version, so the cached copy is never older than it.
                if self._select(db, digest) is None:
                    return None
            elif self._version(db) == local.data_version:
                return local.cache[digest]
            version = self._version(db)
            if version != local.data_version:
                local.cache, local.data_version = {}, version
            record = self._select(db, digest)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be read") from exc
        if record is not None:
            if len(local.cache) >= _CACHE_LIMIT:
                local.cache.clear()
            local.cache[digest] = record
        return record

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        version: int = db.execute("PRAGMA data_version").fetchone()[0]
        return version

    @staticmethod
    def _select(db: sqlite3.Connection, digest: str) -> TokenRecord | None:
        row = db.execute(_GET, (digest, digest)).fetchone()
        return None if row is None else from_row(row)

    def record_usage(self, usages: Sequence[Usage]) -> None:
        if not usages:
            return
        with self._write() as db:
            db.executemany(
                "UPDATE tokenward_tokens SET last_used_at = ?, last_used_ip = ? "
                "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                [(u.at, u.ip, u.token_id, u.at) for u in usages],
            )

    # -- management -----------------------------------------------------------------------

    def add(self, record: TokenRecord) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO tokenward_tokens ({_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                to_row(record),
            )

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        row = self._read_one(
            f"SELECT {_COLUMNS} FROM tokenward_tokens "  # noqa: S608
            "WHERE realm = ? AND username = ? AND name = ?",
            (realm.value, user, name),
        )
        return None if row is None else from_row(row)

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        sql = f"SELECT {_COLUMNS} FROM tokenward_tokens WHERE 1=1"  # noqa: S608
        params: list[str] = []
        if realm is not None:
            sql += " AND realm = ?"
            params.append(realm.value)
        if user is not None:
            sql += " AND username = ?"
            params.append(user)
        try:
            rows = self._connection().execute(sql + " ORDER BY realm, username, name", params)
            return [from_row(row) for row in rows.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be read") from exc

    def save(self, record: TokenRecord) -> None:
        with self._write() as db:
            changed = db.execute(_SAVE, (*saved_values(record), record.id)).rowcount
        if not changed:
            raise TokenNotFoundError(f"token {record.name!r} no longer exists")

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        with self._write() as db:
            return bool(
                db.execute(
                    "UPDATE tokenward_tokens SET verifier = ? WHERE digest = ? AND verifier = ?",
                    (new, digest, old),
                ).rowcount
            )

    def delete(self, token_ids: Iterable[str]) -> int:
        ids = [(token_id,) for token_id in token_ids]
        with self._write() as db:
            before = db.total_changes
            db.executemany("DELETE FROM tokenward_tokens WHERE id = ?", ids)
            return db.total_changes - before

    def delete_user(self, realm: Realm, user: str) -> int:
        with self._write() as db:
            return db.execute(
                "DELETE FROM tokenward_tokens WHERE realm = ? AND username = ?", (realm.value, user)
            ).rowcount

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        with self._write() as db:
            return db.execute(
                "UPDATE tokenward_tokens SET username = ? WHERE realm = ? AND username = ?",
                (new, realm.value, old),
            ).rowcount

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = _Local()

    # -- plumbing -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if local.connection is None or local.pid != os.getpid():
            # A connection must never cross a fork: each worker process opens its own.
            connection = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            local.connection, local.pid = connection, os.getpid()
            local.data_version, local.cache = -1, {}
            with self._lock:
                self._connections.append(connection)
        return local.connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: writers queue on the busy timeout, never half-apply."""
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise DuplicateTokenError("a token with that name already exists") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be written") from exc
        finally:
            # Our own commits do not move this connection's data_version: drop its cache.
            self._local.data_version = -1

    def _read_one(self, sql: str, params: Sequence[str]) -> tuple[object, ...] | None:
        try:
            row: tuple[object, ...] | None = self._connection().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be read") from exc
        return row
