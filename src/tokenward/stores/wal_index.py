"""SQLite's WAL-index header, read without SQL, and the one descriptor per process that reads it.

SQLite keeps a WAL database's index in the ``-shm`` file; its first 96 bytes are two 48-byte
copies of a header that SQLite rewrites on every commit (copy 1, then copy 0). While both
still equal a snapshot, no connection anywhere has committed since it was taken: that is how
the SQLite store's cache skips ``PRAGMA data_version`` (four system calls) on the request path
and pays one ``pread`` instead. A torn read shows two unequal copies and means "changed".

The descriptor is the delicate part. SQLite's locks on the ``-shm`` file are POSIX record
locks, and POSIX drops *every* lock a process holds on a file when the process closes *any*
descriptor of that file. Closing a descriptor of our own while one of our connections is open
would silently release SQLite's locks for the whole process: its "dead man's switch" (so the
next process to open the database thinks it is alone and rebuilds the index under our
connections' feet) and its read marks (so a checkpoint may overwrite pages a reader is still
reading). So a process opens the file for reading once per database, every connection of every
store on it counts itself in before it connects and out after it is closed, and the descriptor
is closed only when none is left.

While a connection of ours is open, no other process can take the database out of WAL mode
(SQLite's shared lock on the database refuses it: "database is locked"), so the index we
read is the one every commit updates; ``tests/stores/test_sqlite_shm_locks.py`` pins that.

Never ``mmap``: SQLite truncates the file when it rebuilds the index, and reading a mapping
past the end kills the process with SIGBUS, where a short ``pread`` only reads as "changed".
"""

from __future__ import annotations

import os
import threading

__all__ = ["HEADER_SIZE", "WalIndex"]

HEADER_SIZE = 96


class WalIndex:
    """The ``-shm`` file of one database, shared by this process's connections to it.

    ``attach`` before each connection is made and ``detach`` after it is closed; the file is
    opened at the first ``header`` read (SQLite makes it at a connection's first read in WAL
    mode) and closed at the last ``detach``.
    """

    __slots__ = ("_fd", "_path", "_users")

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1
        self._users = 0

    @classmethod
    def attach(cls, database: str) -> WalIndex:
        """The index of ``database`` (an absolute path), counting one more connection."""
        path = os.path.realpath(database) + "-shm"  # two names of one file share one entry
        with _lock:
            index = _attached.get(path)
            if index is None:
                index = _attached[path] = cls(path)
            index._users += 1
        return index

    def detach(self) -> None:
        """One connection fewer (call after closing it); the last one closes the file. A
        parent's index, seen in a forked child, is left alone: the child holds none of the
        parent's locks, and the descriptor is the parent's to close."""
        with _lock:
            if _attached.get(self._path) is not self:
                return
            self._users -= 1
            if self._users:
                return
            del _attached[self._path]
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)  # no connection of ours is left to lose a lock by it

    def header(self) -> bytes:
        """The header now if its two copies agree, else ``b""`` (a commit under way, or no
        ``-shm`` file: not WAL, or a VFS without shared memory)."""
        fd = self._fd
        if fd < 0:
            fd = self._open()
            if fd < 0:
                return b""
        raw = os.pread(fd, HEADER_SIZE, 0)
        return raw if len(raw) == HEADER_SIZE and raw[:48] == raw[48:] else b""

    def read(self) -> bytes:
        """The raw header, for comparing with a snapshot ``header`` returned (one ``pread``)."""
        return os.pread(self._fd, HEADER_SIZE, 0)

    def _open(self) -> int:
        with _lock:
            if self._fd < 0 and _attached.get(self._path) is self:
                try:
                    self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return -1
            return self._fd


_lock = threading.Lock()
_attached: dict[str, WalIndex] = {}


def _forget_after_fork() -> None:
    """The child starts with no index: its connections are new, and attach their own."""
    global _lock  # noqa: PLW0603 - a lock another thread held at fork is never released
    _lock = threading.Lock()
    _attached.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
