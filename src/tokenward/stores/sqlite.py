"""The embedded default: one SQLite file, shared safely by threads and worker processes.

WAL lets readers proceed while one process writes; a busy timeout makes writers queue instead
of failing with "database is locked". Each thread has its own connection.

The request path can skip SQL entirely: each connection keeps the records it has read, and
while the WAL-index header in the -shm file (one ``pread``) is unchanged, no connection has
committed since. Otherwise it asks ``PRAGMA data_version``, and if anyone committed the
cache is dropped, so a revocation made by any process is honoured on the very next request.
The -shm file is read through one descriptor per process, closed only after the last of the
process's connections (``tokenward.stores.wal_index`` says why that matters to SQLite's locks).

A file swapped underneath SQLite (``mv`` or ``cp`` of a backup) moves neither: an
``os.stat``, at most every ``identity_check_interval`` (10 ms) per thread, catches it, and
the thread reconnects with an empty cache, seeing what a restarted process would. A deleted
file is a ``StoreError`` (a 503), never a new empty database. The file is created 0600;
SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.request import pathname2url

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import ConfigurationError, DuplicateTokenError, StoreError, TokenNotFoundError
from tokenward.stores.base import USAGE_DAYS, TokenStore, Usage
from tokenward.stores.rows import (
    COLUMN_LIST,
    assignments,
    from_row,
    placeholders,
    saved_values,
    to_row,
)
from tokenward.stores.wal_index import WalIndex

__all__ = ["SQLiteStore"]

logger = logging.getLogger("tokenward.store")

SCHEMA_VERSION = 3  # 2: the readonly column; 3: revoked_at, revoked_reason, tokenward_usage
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
    readonly INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER,
    revoked_reason TEXT,
    UNIQUE (realm, username, name)
);
CREATE TABLE IF NOT EXISTS tokenward_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokenward_usage (
    token_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (token_id, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tokenward_usage_day ON tokenward_usage (day);
"""
# From each older version to the next, applied in order inside the schema's one transaction
# (new tables come from _SCHEMA's CREATE ... IF NOT EXISTS, which runs first).
_UPGRADES: dict[str, tuple[str, ...]] = {
    "1": ("ALTER TABLE tokenward_tokens ADD COLUMN readonly INTEGER NOT NULL DEFAULT 0",),
    "2": (
        "ALTER TABLE tokenward_tokens ADD COLUMN revoked_at INTEGER",
        "ALTER TABLE tokenward_tokens ADD COLUMN revoked_reason TEXT",
    ),
}
# Counts are added, never overwritten, so that processes flushing at once add up; only for
# a token that still exists (a flush racing a revocation leaves nothing behind).
_COUNT = (
    "INSERT INTO tokenward_usage (token_id, day, requests) SELECT ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM tokenward_tokens WHERE id = ?) "
    "ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + excluded.requests"
)
_IDS_PER_QUERY = 500  # under SQLite's limit on host parameters
_CACHE_LIMIT = 10_000
_GET = (
    f"SELECT {_COLUMNS} FROM tokenward_tokens WHERE digest = ? "  # noqa: S608
    f"UNION ALL SELECT {_COLUMNS} FROM tokenward_tokens WHERE previous_digest = ?"
)


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    generation: int = -1  # the process generation the connection was made in
    identity: tuple[int, int, int, int] | None = None
    checked_at: float = -math.inf  # when the file's identity was last looked at
    data_version: int = -1
    wal: WalIndex | None = None  # the -shm file this connection is counted in
    header: bytes = b""  # the WAL-index header the cache was last validated against
    cache: dict[str, TokenRecord | None]


# A connection (and its -shm file) must never cross a fork. Bumped in every child, so the
# request path compares an int instead of calling getpid() each time.
_generation = 0


def _forked() -> None:
    global _generation  # noqa: PLW0603 - a counter the fork hook owns, not a registry
    _generation += 1


os.register_at_fork(after_in_child=_forked)

_MISSING = object()


def _create_private(path: str) -> None:
    """Owner-only, before SQLite opens it (SQLite would follow the umask, 0644 usually, and
    gives -wal and -shm the main file's mode). An existing file is warned about, not changed:
    loosening is never right, and tightening might lock out a group the operator meant."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _warn_if_shared(path)


def _warn_if_shared(path: str) -> None:
    """One warning for an existing file others may read; ``OSError`` if it is missing."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        hint = f"chmod 600 {shlex.quote(path)}"
        logger.warning("%s holds token digests but is mode %03o; run: %s", path, mode, hint)


class SQLiteStore(TokenStore):
    """``create=False`` opens only an existing store: a missing file (or directory) is a
    ``StoreError`` naming it, and nothing is created; read-only commands open it so."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cache: bool = True,
        busy_timeout: float = 10.0,
        create: bool = True,
        identity_check_interval: float = 0.01,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``identity_check_interval``: how often (seconds, per thread) the database file's
        identity is checked with ``stat``; a file swapped underneath is seen within it."""
        self.path = str(path)
        self._identity_interval = identity_check_interval
        self._monotonic = monotonic
        self._cache = cache
        self._timeout = busy_timeout
        self._local = _Local()
        # Every connection of this store, with the -shm file it is counted in.
        self._connections: dict[sqlite3.Connection, WalIndex] = {}
        self._lock = threading.Lock()
        if self.path == ":memory:" or not self.path:
            # Each thread has its own connection, so each would see its own empty database.
            raise ConfigurationError("SQLiteStore needs a file; use MemoryStore for memory")
        self._file = os.path.abspath(self.path)
        # Every open is mode=rw: only _create_private creates the file, so a database deleted
        # or moved away later is an error (a 503), never a new empty store.
        self._uri = f"file://{pathname2url(self._file)}?mode=rw"
        self._unreported = ""  # what this open did to the schema; migrate() has not said so
        if create:
            try:
                Path(self._file).parent.mkdir(parents=True, exist_ok=True)
                _create_private(self._file)
            except OSError as exc:
                raise StoreError(f"SQLite store {self.path!r} could not be created") from exc
            self._unreported = self._make_schema()
        else:
            self._require_existing()
        self._check_version()

    def migrate(self) -> str:
        """The schema is made or upgraded when the store is opened (unless ``create=False``);
        this does it if still needed and says what was done, once."""
        done = self._make_schema() or self._unreported
        self._unreported = ""
        self._check_version()
        return done or f"schema version {SCHEMA_VERSION} is up to date"

    def _make_schema(self) -> str:
        """Tables and version row where missing, an older schema upgraded (one transaction:
        processes opening the file at once queue, and one of them does it); what it did."""
        with self._write() as db:
            for statement in _SCHEMA.split(";"):  # executescript would commit early
                if statement.strip():
                    db.execute(statement)
            if db.execute(
                "INSERT OR IGNORE INTO tokenward_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            ).rowcount:
                return f"created schema version {SCHEMA_VERSION}"
            row = db.execute("SELECT value FROM tokenward_meta WHERE key = 'schema_version'")
            found = version = str(row.fetchone()[0])
            while version in _UPGRADES:
                for statement in _UPGRADES[version]:
                    db.execute(statement)
                version = str(int(version) + 1)
            if version == found:
                return ""  # up to date, or newer than this code (_check_version says so)
            db.execute(
                "UPDATE tokenward_meta SET value = ? WHERE key = 'schema_version'", (version,)
            )
            return f"upgraded schema version {found} to {version}"

    def _require_existing(self) -> None:
        try:
            _warn_if_shared(self._file)
        except (FileNotFoundError, NotADirectoryError):
            raise StoreError(
                f"no SQLite store at {self._file!r}; create one with `tokenward migrate` "
                "or `tokenward create`"
            ) from None
        except OSError as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be opened") from exc

    def _check_version(self) -> None:
        table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokenward_meta'"
        if self._read_one(table, ()) is None:
            raise StoreError(
                f"SQLite store {self._file!r} has no tokenward schema; run `tokenward migrate`"
            )
        row = self._read_one("SELECT value FROM tokenward_meta WHERE key='schema_version'", ())
        version = None if row is None else str(row[0])
        if version != str(SCHEMA_VERSION):
            hint = "; run `tokenward migrate`" if version in _UPGRADES else ""
            raise StoreError(f"{self.path}: schema version {version} is not {SCHEMA_VERSION}{hint}")

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- request path ---------------------------------------------------------------------

    def get(self, digest: str) -> TokenRecord | None:
        # The warm path, inline: this thread's connection is current (same process, its
        # file's identity looked at within the interval), the record is cached, and the
        # WAL-index header is the one the cache was validated against: nobody committed.
        local = self._local
        header = local.header
        if (
            header
            and local.generation == _generation
            and self._monotonic() - local.checked_at < self._identity_interval
        ):
            cached = local.cache.get(digest, _MISSING)
            if cached is not _MISSING:
                assert local.wal is not None  # a header is only taken through it
                try:
                    if local.wal.read() == header:
                        return cached  # type: ignore[return-value]
                except OSError as exc:
                    raise StoreError(f"SQLite store {self.path!r} could not be read") from exc
        return self._checked_get(digest)

    def _checked_get(self, digest: str) -> TokenRecord | None:
        try:
            db = self._connection()
            if not self._cache:
                return self._select(db, digest)
            local = self._local
            cached = local.cache.get(digest, _MISSING)
            # Unknown tokens (and first reads) cost the query alone. A found record is read
            # again after data_version, so the cached copy is never older than it.
            if cached is _MISSING and self._select(db, digest) is None:
                return None
            assert local.wal is not None  # every connection is counted in its -shm file
            header = local.wal.header()  # before the checks: a later commit shows next time
            version = self._version(db)
            if version == local.data_version and cached is not _MISSING:
                local.header = header
                return cached  # type: ignore[return-value]
            if version != local.data_version:
                local.cache, local.data_version = {}, version
            local.header = header
            record = self._select(db, digest)
        except (sqlite3.Error, OSError) as exc:
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
        oldest = max(u.at for u in usages) // 86_400 - USAGE_DAYS + 1
        counts = [(u.token_id, day, n, u.token_id) for u in usages for day, n in u.counts]
        with self._write() as db:
            db.executemany(
                "UPDATE tokenward_tokens SET last_used_at = ?, last_used_ip = ? "
                "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                [(u.at, u.ip, u.token_id, u.at) for u in usages],
            )
            if counts:
                db.executemany(_COUNT, counts)
                # An index range: nothing to scan on most days, one day's rows on a new one.
                db.execute("DELETE FROM tokenward_usage WHERE day < ?", (oldest,))

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        ids = list(dict.fromkeys(token_ids))
        found: dict[str, dict[int, int]] = {}
        try:
            db = self._connection()
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start : start + _IDS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT token_id, day, requests FROM tokenward_usage "  # noqa: S608
                    f"WHERE day >= ? AND token_id IN ({marks})",
                    (since_day, *chunk),
                )
                for token_id, day, requests in rows:
                    found.setdefault(str(token_id), {})[int(day)] = int(requests)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be read") from exc
        return found

    # -- management -----------------------------------------------------------------------

    def add(self, record: TokenRecord) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO tokenward_tokens ({_COLUMNS}) VALUES ({placeholders('?')})",  # noqa: S608
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
            db.executemany("DELETE FROM tokenward_usage WHERE token_id = ?", ids)
            before = db.total_changes
            db.executemany("DELETE FROM tokenward_tokens WHERE id = ?", ids)
            return db.total_changes - before

    def delete_user(self, realm: Realm, user: str) -> int:
        with self._write() as db:
            db.execute(
                "DELETE FROM tokenward_usage WHERE token_id IN "
                "(SELECT id FROM tokenward_tokens WHERE realm = ? AND username = ?)",
                (realm.value, user),
            )
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
            connections, self._connections = self._connections, {}
            for connection, wal in connections.items():
                connection.close()
                wal.detach()  # after the close: see tokenward.stores.wal_index
        self._local = _Local()

    # -- plumbing -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if local.connection is not None and local.generation == _generation:
            now = self._monotonic()
            if now - local.checked_at < self._identity_interval:
                return local.connection
            local.checked_at = now
        seen = self._stat(local)
        if (
            local.connection is not None
            and local.generation == _generation
            and local.identity == seen
        ):
            return local.connection
        # A new thread, a new process (a connection must never cross a fork), or a file that
        # was swapped: the old connection would read the old inode and its page cache forever.
        self._disconnect(local)
        wal = WalIndex.attach(self._file)  # counted in before SQLite opens the -shm file
        try:
            connection = sqlite3.connect(
                self._uri, self._timeout, isolation_level=None, check_same_thread=False, uri=True
            )
        except BaseException:
            wal.detach()
            raise
        with self._lock:
            self._connections[connection] = wal
        local.connection, local.generation, local.data_version = connection, _generation, -1
        local.wal = wal
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        local.checked_at = self._monotonic()
        # Turning WAL on, or closing the old connection (a checkpoint), may have just written the
        # file. If the name moved to another file meanwhile, the next call must check again.
        after = self._stat(local)
        local.identity = after if after[:2] == seen[:2] else seen
        return connection

    def _stat(self, local: _Local) -> tuple[int, int, int, int]:
        """Device and inode change when the file is renamed over or deleted; size and mtime when
        it is overwritten in place. WAL commits write only the -wal file, so the warm path keeps
        its identity; checkpoints write the main file and cost each thread one reconnect."""
        try:
            st = os.stat(self._file)
        except OSError as exc:
            self._disconnect(local)  # let go of the deleted inode too
            raise StoreError(f"SQLite store {self.path!r} is gone or unreadable") from exc
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _disconnect(self, local: _Local) -> None:
        connection, local.connection, local.identity, local.cache = local.connection, None, None, {}
        local.wal, local.header = None, b""
        if connection is not None and local.generation == _generation:  # never a parent's
            with self._lock:
                wal = self._connections.pop(connection, None)
            connection.close()
            if wal is not None:
                wal.detach()  # after the close: see tokenward.stores.wal_index

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
            self._local.data_version, self._local.header = -1, b""

    def _read_one(self, sql: str, params: Sequence[str]) -> tuple[object, ...] | None:
        try:
            row: tuple[object, ...] | None = self._connection().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r} could not be read") from exc
        return row
