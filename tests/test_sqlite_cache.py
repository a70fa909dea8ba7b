"""SQLiteStore's record cache must never outlive a change made by anyone."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from tokenward import Realm, SQLiteStore, StoreError
from tokenward.stores.base import Usage
from tokenward.testing import FrozenClock, MintedToken, TokenFactory


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.db"


@pytest.fixture
def ticks() -> FrozenClock:
    """The store's monotonic clock: when it next looks at the file's identity."""
    return FrozenClock(0.0)


INTERVAL = 0.01  # SQLiteStore's default identity_check_interval


def test_revocation_through_another_connection_is_seen_on_the_next_read(
    path: Path, clock: FrozenClock
) -> None:
    reader, writer = SQLiteStore(path), SQLiteStore(path)
    token = TokenFactory(writer, clock).mint()
    digest = token.created.record.digest
    assert reader.get(digest) is not None
    assert reader.get(digest) is not None  # now served from the cache
    writer.delete([token.created.record.id])
    assert reader.get(digest) is None


def test_edit_through_another_connection_replaces_the_cached_record(
    path: Path, clock: FrozenClock
) -> None:
    reader, writer = SQLiteStore(path), SQLiteStore(path)
    token = TokenFactory(writer, clock).mint(acls=["edit-dns"])
    digest = token.created.record.digest
    assert reader.get(digest) is not None
    writer.save(token.created.record.replace(acls=frozenset({"list-accts"})))
    record = reader.get(digest)
    assert record is not None
    assert record.acls == {"list-accts"}


def test_own_writes_from_another_thread_invalidate_this_threads_cache(
    path: Path, clock: FrozenClock
) -> None:
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    assert store.get(digest) is not None
    worker = threading.Thread(target=store.delete, args=([token.created.record.id],))
    worker.start()
    worker.join()
    assert store.get(digest) is None


def test_own_writes_on_the_same_thread_invalidate_the_cache(path: Path, clock: FrozenClock) -> None:
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    assert store.get(token.created.record.digest) is not None
    store.delete_user(Realm.CPANEL, "alice")
    assert store.get(token.created.record.digest) is None


def test_uncached_store_reads_the_same_answers(path: Path, clock: FrozenClock) -> None:
    store = SQLiteStore(path, cache=False)
    token = TokenFactory(store, clock).mint()
    assert store.get(token.created.record.digest) == store.find(
        Realm.CPANEL, "alice", token.created.record.name
    )
    assert store.get("0" * 32) is None


# -- the file itself replaced or deleted underneath a running store ---------------------------


def _revoked_backup(path: Path, token: MintedToken) -> Path:
    """A backup taken through SQLite's backup API, in which the token was then revoked."""
    backup = path.with_name("backup.db")
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(backup)) as target:
        source.backup(target)
    store = SQLiteStore(backup)
    store.delete([token.created.record.id])
    store.close()
    return backup


def _empty_the_log(path: Path) -> None:
    """SQLite pairs a database with whatever -wal file lies beside its name, in a restarted
    process just the same: pages the old file had not checkpointed would be replayed into the
    new one. A swap can only mean what it says once the log is checkpointed and emptied."""
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
def test_replaced_database_file_is_reread_on_the_next_request(
    path: Path, clock: FrozenClock, ticks: FrozenClock, cache: bool
) -> None:
    store = SQLiteStore(path, cache=cache, monotonic=ticks)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    backup = _revoked_backup(path, token)
    _empty_the_log(path)
    assert store.get(digest) is not None
    assert store.get(digest) is not None
    before = path.stat()
    # The same size and timestamp (cp -p, rsync -t): only the inode tells the files apart.
    os.utime(backup, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(backup, path)  # mv backup.db tokens.db
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    ticks.advance(INTERVAL)  # the next identity check: at most 10 ms later, at any load
    assert store.get(digest) is None


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
def test_database_file_overwritten_in_place_is_reread_on_the_next_request(
    path: Path, clock: FrozenClock, ticks: FrozenClock, cache: bool
) -> None:
    store = SQLiteStore(path, cache=cache, monotonic=ticks)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    backup = _revoked_backup(path, token)
    _empty_the_log(path)
    assert store.get(digest) is not None
    assert store.get(digest) is not None
    before = path.stat()
    with path.open("r+b") as file:  # cp backup.db tokens.db: same inode, same size, new bytes
        file.write(backup.read_bytes())
        file.truncate()
    # cp stamps the file with the time of the copy; stamped here at the real clock's grain, as
    # kernels without fine-grained timestamps could give both writes the same clock tick.
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    after = path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    ticks.advance(INTERVAL)
    assert store.get(digest) is None


def test_restore_through_sqlites_backup_api_is_honoured_on_the_next_request(
    path: Path, clock: FrozenClock
) -> None:
    """The supported way to restore a live database (sqlite3 tokens.db ".restore backup.db")."""
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    assert store.get(digest) is not None
    backup = _revoked_backup(path, token)
    with closing(sqlite3.connect(backup)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)
    assert store.get(digest) is None


def test_deleted_database_file_is_an_error_and_no_empty_store_replaces_it(
    path: Path, clock: FrozenClock, ticks: FrozenClock
) -> None:
    store = SQLiteStore(path, monotonic=ticks)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    assert store.get(digest) is not None
    path.unlink()
    ticks.advance(INTERVAL)
    for _ in range(2):  # and no later call quietly starts afresh either
        with pytest.raises(StoreError):
            store.get(digest)
        with pytest.raises(StoreError):
            store.record_usage([Usage(token.created.record.id, 1, "192.0.2.1")])
        assert not path.exists()


def test_a_reconnect_never_creates_a_missing_database_file(
    path: Path, clock: FrozenClock, ticks: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(path, monotonic=ticks)
    token = TokenFactory(store, clock).mint()
    assert store.get(token.created.record.digest) is not None
    path.unlink()
    ticks.advance(INTERVAL)
    # The file vanishing between the check and the open: the open itself must refuse to create.
    monkeypatch.setattr(store, "_stat", lambda local: (0, 0, 0, 0), raising=False)
    with pytest.raises(StoreError):
        store.get(token.created.record.digest)
    assert not path.exists()


def test_repeated_reads_of_an_unchanged_file_answer_from_the_cache_without_a_query(
    path: Path, clock: FrozenClock
) -> None:
    store = SQLiteStore(path)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    assert store.get(digest) is not None
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    for _ in range(3):
        assert store.get(digest) is not None
    # The WAL-index header says no one committed: no SQL at all, on the same connection.
    assert statements == []


def test_a_swapped_file_is_looked_for_once_per_interval_not_on_every_read(
    path: Path, clock: FrozenClock, ticks: FrozenClock
) -> None:
    """The identity check is a system call: made at most once per interval and thread, so
    a file swapped underneath is seen within that interval (10 ms by default)."""
    store = SQLiteStore(path, monotonic=ticks)
    token = TokenFactory(store, clock).mint()
    digest = token.created.record.digest
    assert store.get(digest) is not None
    path.unlink()
    ticks.advance(INTERVAL / 2)
    assert store.get(digest) is not None  # not looked for yet
    ticks.advance(INTERVAL / 2)
    with pytest.raises(StoreError):
        store.get(digest)
