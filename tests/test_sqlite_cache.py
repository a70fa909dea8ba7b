"""SQLiteStore's record cache must never outlive a change made by anyone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tokenward import Realm, SQLiteStore
from tokenward.testing import FrozenClock, TokenFactory


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.db"


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
