"""Last-used tracking and per-day request counts without a store write per request.

The request path only notes the latest use and adds one to the token's count for the day,
in dicts. A background thread writes what has accumulated once per interval, in one
``record_usage`` batch, so a token costs at most one write per interval however busy it
is; ``close()`` writes the rest (the ``Guard`` that owns the tracker calls it: at ASGI
lifespan shutdown, from a server hook, or at a normal interpreter exit).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict

from tokenward.errors import StoreError
from tokenward.stores.base import TokenStore, Usage

__all__ = ["UsageTracker"]

logger = logging.getLogger("tokenward.usage")

# Bumped in every forked child. A child starts with a copy of its parent's unwritten counts,
# which the parent writes itself: the child must drop them, or they would be added twice.
_generation = 0


def _forked() -> None:
    global _generation  # noqa: PLW0603 - a counter the fork hook owns, not a registry
    _generation += 1


os.register_at_fork(after_in_child=_forked)


class _Noted:
    """A token's latest use, and the requests it made since, all in that second's day."""

    __slots__ = ("at", "ip", "requests")

    def __init__(self, at: int, ip: str | None, requests: int) -> None:
        self.at, self.ip, self.requests = at, ip, requests


class UsageTracker:
    def __init__(self, store: TokenStore, interval: float, *, background: bool = True) -> None:
        self._store = store
        self._interval = interval
        self.background = background
        self._pending: dict[str, _Noted] = {}
        # (token id, UTC day) -> requests since the last flush that are no longer counted in
        # a _pending entry (it moved on to a new second or address). Every key's token is
        # also in _pending: both are filled and swapped under the one lock.
        self._counts: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._generation = _generation
        self.writes = 0  # store calls made, for tests and benchmarks

    def note(self, token_id: str, at: float, ip: str | None) -> None:
        if self._generation != _generation:
            self._forget_the_parents()
        second = int(at)
        # Under the lock, so that no count is lost to another request or to a flush
        # swapping the dicts (an uncontended lock costs tens of nanoseconds). The day is
        # the noted second's, not the flush's, so a flush after midnight credits the right day.
        with self._lock:
            pending = self._pending.get(token_id)
            if pending is not None and pending.at == second and pending.ip == ip:
                pending.requests += 1  # a busy token: the same second from the same address
                return
            if pending is not None and pending.requests:
                self._counts[token_id, pending.at // 86_400] += pending.requests
            self._pending[token_id] = _Noted(second, ip, 1)
        if self.background and (self._thread is None or self._pid != os.getpid()):
            self._start()

    @property
    def backlog(self) -> int:
        """Tokens whose last use is noted and not yet written (read by a metrics scrape)."""
        return len(self._pending)

    def flush(self) -> int:
        """Write what is pending in one batch, last uses and counts together. On a store
        failure nothing is lost and nothing doubled: the batch goes back (a last use only
        unless a newer one of the same token arrived meanwhile; counts are added back to
        those noted since) and is written with the next one."""
        with self._lock:
            batch, self._pending = self._pending, {}
            counts, self._counts = self._counts, defaultdict(int)
        if not batch:
            return 0
        for token_id, noted in batch.items():
            if noted.requests:
                counts[token_id, noted.at // 86_400] += noted.requests
        days: dict[str, list[tuple[int, int]]] = {}
        for (token_id, day), requests in counts.items():
            days.setdefault(token_id, []).append((day, requests))
        usages = [
            Usage(token_id, noted.at, noted.ip, tuple(sorted(days.get(token_id, ()))))
            for token_id, noted in batch.items()
        ]
        try:
            self._store.record_usage(usages)
        except StoreError:
            logger.warning("could not record last use of %d token(s); will retry", len(batch))
            with self._lock:
                for token_id, noted in batch.items():
                    self._pending.setdefault(token_id, _Noted(noted.at, noted.ip, 0))
                for key, requests in counts.items():
                    self._counts[key] += requests
            return 0
        self.writes += 1
        return len(batch)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        self.flush()

    def _forget_the_parents(self) -> None:
        """In a forked child: what was pending is the parent's to write. The lock is new
        too, since the parent may have held it at the fork (a child has one thread)."""
        self._lock = threading.Lock()
        self._pending, self._counts = {}, defaultdict(int)
        self._generation = _generation

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # After a fork the parent's thread does not exist here: start our own.
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name="tokenward-last-used", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
