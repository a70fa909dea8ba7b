"""An optional per-process record cache over a network store: zero store reads per warm
request, with every change pushed to every process at once.

Off by default (correctness first). The store announces each change on a channel
(PostgreSQL ``NOTIFY``, Redis pub/sub); a listener thread drops the whole cache on any
announcement. If the channel is lost, the cache stops serving until the listener is back
and has dropped everything, and no entry is ever served older than ``max_staleness``
seconds, so a missed announcement costs at most that much.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from tokenward.core.clock import Clock
from tokenward.core.tokens import Realm, TokenRecord
from tokenward.stores.base import TokenStore, Usage

__all__ = ["CachedStore", "ChangeFeed"]

logger = logging.getLogger("tokenward.cache")


class ChangeFeed(Protocol):
    """Calls ``on_change()`` for every announced change until ``stop`` is set; returns (or
    raises) when the channel is lost."""

    def listen(
        self, on_ready: Callable[[], None], on_change: Callable[[], None], stop: threading.Event
    ) -> None: ...


class CachedStore(TokenStore):
    def __init__(
        self,
        inner: TokenStore,
        feed: ChangeFeed,
        *,
        max_staleness: float = 5.0,
        max_entries: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.inner = inner
        self.max_staleness = max_staleness
        self._feed = feed
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, TokenRecord]] = {}
        self._generation = 0  # bumped by every invalidation
        self._lock = threading.Lock()
        self._healthy = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="tokenward-cache", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"CachedStore({self.inner!r})"

    @property
    def listening(self) -> bool:
        return self._healthy.is_set()

    # -- the request path ----------------------------------------------------------------

    def get(self, digest: str) -> TokenRecord | None:
        cached = self._fresh(digest)
        if cached is not None:
            return cached
        generation = self._generation
        record = self.inner.get(digest)
        self._keep(digest, record, generation)
        return record

    async def aget(self, digest: str) -> TokenRecord | None:
        cached = self._fresh(digest)
        if cached is not None:
            return cached
        generation = self._generation
        record = await self.inner.aget(digest)
        self._keep(digest, record, generation)
        return record

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    # -- everything else goes straight through (and so announces its change) ---------------

    def add(self, record: TokenRecord) -> None:
        self.inner.add(record)

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        return self.inner.find(realm, user, name)

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        return self.inner.list(realm=realm, user=user)

    def save(self, record: TokenRecord) -> None:
        self.inner.save(record)
        self.invalidate()  # our own change: no need to wait for the echo

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        try:
            return self.inner.replace_verifier(digest, old, new)
        finally:
            self.invalidate()

    def delete(self, token_ids: Iterable[str]) -> int:
        try:
            return self.inner.delete(token_ids)
        finally:
            self.invalidate()

    def delete_user(self, realm: Realm, user: str) -> int:
        try:
            return self.inner.delete_user(realm, user)
        finally:
            self.invalidate()

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        try:
            return self.inner.rename_user(realm, old, new)
        finally:
            self.invalidate()

    def record_usage(self, usages: Sequence[Usage]) -> None:
        self.inner.record_usage(usages)

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        return self.inner.usage_counts(token_ids, since_day=since_day)

    def migrate(self) -> str:
        """The inner store's schema is the one to migrate; what was cached may predate it."""
        try:
            return self.inner.migrate()
        finally:
            self.invalidate()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()

    # -- plumbing -------------------------------------------------------------------------

    def _fresh(self, digest: str) -> TokenRecord | None:
        if not self._healthy.is_set():
            return None
        entry = self._entries.get(digest)
        if entry is None or self._clock() - entry[0] > self.max_staleness:
            return None
        return entry[1]

    def _keep(self, digest: str, record: TokenRecord | None, generation: int) -> None:
        if record is None or not self._healthy.is_set():
            return  # unknown tokens are not cached: garbage must not fill memory
        with self._lock:
            if generation != self._generation:
                return  # a change was announced while we read: this copy may be stale
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[digest] = (self._clock(), record)

    def _ready(self) -> None:
        self.invalidate()  # anything may have changed while we were not listening
        self._healthy.set()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self._feed.listen(self._ready, self.invalidate, self._stop)
            except Exception:
                logger.warning("change feed lost; serving without the cache", exc_info=True)
            self._healthy.clear()
            self.invalidate()
            self._stop.wait(1.0)  # bounded reconnect pace (cache off); close() cuts it short
