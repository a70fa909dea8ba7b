"""The SQLite store reads the -shm file through a descriptor of its own; closing it must never
cost SQLite its locks (POSIX drops all of a process's locks on a file when the process closes
any descriptor of it: tokenward.stores.wal_index).

SQLite holds a shared lock on byte 128 of the -shm file (its "dead man's switch") for as long
as any connection of the process has the index open; without it, the next process to open
the database takes itself for the only one and rebuilds the index under the open connections.
These tests read the kernel's lock table (/proc/locks), so they run on Linux only.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from tokenward import SQLiteStore
from tokenward.testing import FrozenClock, TokenFactory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the kernel's lock table in /proc/locks"
)

DEAD_MANS_SWITCH = 128  # SQLite's UNIX_SHM_DMS: (22 + 8) * 4 + 8
INTERVAL = 0.01  # SQLiteStore's default identity_check_interval
OPEN = 2  # -shm descriptors while connections are open: SQLite's one per process, and ours


def held_switch(path: Path) -> bool:
    """Whether this process holds SQLite's shared lock on the -shm file's byte 128."""
    inode = os.stat(f"{path}-shm").st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  READ 5104 fe:00:2146689 128 128"
        if fields[1] != "POSIX" or fields[4] != str(os.getpid()):
            continue
        if fields[5].rsplit(":", 1)[1] == str(inode) and fields[6] == str(DEAD_MANS_SWITCH):
            return fields[3] == "READ"
    return False


def shm_descriptors(path: Path) -> int:
    """How many of this process's open descriptors are the -shm file."""
    target = f"{path}-shm"
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
    return count


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.db"


def warm(store: SQLiteStore, clock: FrozenClock) -> str:
    """A token read twice: the second read answers from the WAL-index header."""
    digest = TokenFactory(store, clock).mint().created.record.digest
    for _ in range(2):
        assert store.get(digest) is not None
    return digest


def test_closing_one_store_keeps_the_locks_of_another_on_the_same_file(
    path: Path, clock: FrozenClock
) -> None:
    first, second = SQLiteStore(path), SQLiteStore(path)
    digest = warm(first, clock)
    assert second.get(digest) is not None
    assert held_switch(path)
    first.close()
    assert held_switch(path)  # the -shm descriptor stays open for the second store
    assert second.get(digest) is not None
    second.close()
    assert shm_descriptors(path) == 0  # and closes with the last connection


def test_a_thread_reconnecting_after_a_checkpoint_keeps_the_other_threads_locks(
    path: Path, clock: FrozenClock
) -> None:
    """A checkpoint writes the main file, so every thread reconnects at its next identity
    check: the one that does so first must not take the others' locks with it."""
    ticks = FrozenClock(0.0)
    store = SQLiteStore(path, monotonic=ticks)
    digest = warm(store, clock)
    other_read = threading.Event()
    done = threading.Event()

    def other_thread() -> None:
        assert store.get(digest) is not None  # a second connection, open until `done`
        other_read.set()
        done.wait(timeout=30)

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert other_read.wait(timeout=30)
        with closing(sqlite3.connect(path)) as outside:
            outside.execute("UPDATE tokenward_tokens SET name = name || '!'")
            outside.commit()
            outside.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        ticks.advance(INTERVAL)
        assert store.get(digest) is not None  # reconnected: the file's size and mtime moved
        assert held_switch(path)
    finally:
        done.set()
        thread.join()
        store.close()


def test_descriptors_do_not_pile_up_across_reconnects_and_stores(
    path: Path, clock: FrozenClock
) -> None:
    ticks = FrozenClock(0.0)
    store = SQLiteStore(path, monotonic=ticks)
    digest = warm(store, clock)
    for _ in range(5):
        with closing(sqlite3.connect(path)) as outside:
            outside.execute("UPDATE tokenward_tokens SET name = name || '!'")
            outside.commit()
            outside.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        ticks.advance(INTERVAL)
        assert store.get(digest) is not None
        assert store.get(digest) is not None
        other = SQLiteStore(path)
        assert other.get(digest) is not None
        other.close()
        assert shm_descriptors(path) == OPEN  # not one more per reconnect or store
    store.close()
    assert shm_descriptors(path) == 0


def test_two_names_of_one_file_share_the_descriptor(path: Path, clock: FrozenClock) -> None:
    first = SQLiteStore(path)
    digest = warm(first, clock)
    link = path.with_name("link.db")
    link.symlink_to(path)
    second = SQLiteStore(link)
    assert second.get(digest) is not None
    assert second.get(digest) is not None
    second.close()
    assert held_switch(path)
    assert shm_descriptors(path) == OPEN
    first.close()


def test_no_other_process_can_take_the_database_out_of_wal_while_a_store_is_open(
    path: Path, clock: FrozenClock
) -> None:
    """What the WAL-index shortcut rests on: while a connection of ours is open, SQLite's
    shared lock on the database keeps every other process from leaving WAL mode (which
    would leave our descriptor on an index that no commit updates any more)."""
    store = SQLiteStore(path)
    warm(store, clock)
    switch = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.2)\n"
        "try:\n"
        "    print(db.execute('PRAGMA journal_mode = DELETE').fetchone()[0])\n"
        "except sqlite3.OperationalError as exc:\n"
        "    print(exc)\n"
    )
    try:
        refused = subprocess.run(
            [sys.executable, "-c", switch, str(path)], capture_output=True, text=True, check=True
        )
        assert refused.stdout.strip() == "database is locked"
    finally:
        store.close()
    allowed = subprocess.run(
        [sys.executable, "-c", switch, str(path)], capture_output=True, text=True, check=True
    )
    assert allowed.stdout.strip() == "delete"  # the test would see it: the lock was the reason
