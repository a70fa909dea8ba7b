"""The optional record cache: zero reads when warm, pushed invalidation, bounded staleness."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import MemoryStore, TokenRecord, TokenStore, open_store
from tokenward.stores.cache import CachedStore
from tokenward.testing import FrozenClock
from tokenward.testing.conformance import StoreConformance, record

WAIT = 10.0


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, digest: str) -> TokenRecord | None:
        self.reads += 1
        return super().get(digest)


class ManualFeed:
    """A change channel the test drives: announce, or drop the connection."""

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.lost = threading.Event()
        self.ready = threading.Event()
        self.poke = threading.Event()

    def listen(
        self, on_ready: Callable[[], None], on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        on_ready()
        self.ready.set()
        while not stop.is_set():
            self.poke.wait(0.05)
            self.poke.clear()
            while self.changes:
                self.changes.pop()
                on_change()
            if self.lost.is_set():
                self.ready.clear()
                raise ConnectionError("feed lost")


@pytest.fixture
def cached() -> Iterator[tuple[CachedStore, CountingStore, ManualFeed, FrozenClock]]:
    inner, feed, clock = CountingStore(), ManualFeed(), FrozenClock(0)
    store = CachedStore(inner, feed, max_staleness=5, clock=clock)
    assert feed.ready.wait(WAIT)
    yield store, inner, feed, clock
    store.close()


def test_warm_reads_cost_no_store_read(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, inner, _, _ = cached
    r = record()
    inner.add(r)
    assert [store.get(r.digest) for _ in range(5)] == [r] * 5
    assert inner.reads == 1
    assert store.get("0" * 32) is None
    assert store.get("0" * 32) is None
    assert inner.reads == 3  # unknown digests are never cached


def test_an_announced_change_empties_the_cache(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, inner, feed, _ = cached
    r = record()
    inner.add(r)
    store.get(r.digest)
    inner.delete([r.id])  # another process revokes: until announced, the cache answers
    assert store.get(r.digest) == r
    feed.changes.append("revoked")
    feed.poke.set()
    pause = threading.Event()
    for _ in range(250):  # bounded: the listener thread applies it within one poll
        if store.get(r.digest) is None:
            break
        pause.wait(0.02)
    assert store.get(r.digest) is None


def test_entries_expire_after_max_staleness(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, inner, _, clock = cached
    r = record()
    inner.add(r)
    store.get(r.digest)
    clock.advance(5.1)
    store.get(r.digest)
    assert inner.reads == 2


def test_a_lost_feed_turns_the_cache_off(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, inner, feed, _ = cached
    r = record()
    inner.add(r)
    store.get(r.digest)
    feed.lost.set()
    feed.poke.set()
    pause = threading.Event()
    for _ in range(200):  # bounded: the listener thread notices within one poll
        if not store.listening:
            break
        pause.wait(0.02)
    assert not store.listening
    before = inner.reads
    store.get(r.digest)
    store.get(r.digest)
    assert inner.reads == before + 2


def test_own_writes_invalidate_at_once(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, _, _, _ = cached
    r = record()
    store.add(r)
    store.get(r.digest)
    store.delete([r.id])
    assert store.get(r.digest) is None


def test_an_upgraded_verifier_is_read_at_once(
    cached: tuple[CachedStore, CountingStore, ManualFeed, FrozenClock],
) -> None:
    store, _, _, _ = cached
    r = record()
    store.add(r)
    assert store.get(r.digest) == r  # now cached
    assert store.replace_verifier(r.digest, r.verifier, "$argon2id$v=19$upgraded")
    assert store.get(r.digest) == r.replace(verifier="$argon2id$v=19$upgraded")


class MigratingStore(CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.migrations = 0

    def migrate(self) -> str:
        self.migrations += 1
        return "created schema version 7"


def test_migrate_goes_to_the_inner_store_and_empties_the_cache() -> None:
    """`tokenward migrate` on a `?tokenward_cache=` URL once migrated nothing."""
    inner, feed = MigratingStore(), ManualFeed()
    store = CachedStore(inner, feed, max_staleness=5, clock=FrozenClock(0))
    assert feed.ready.wait(WAIT)
    try:
        r = record()
        inner.add(r)
        store.get(r.digest)
        assert store.migrate() == "created schema version 7"
        assert inner.migrations == 1
        store.get(r.digest)
        assert inner.reads == 2  # the schema may have changed under the cached copy
    finally:
        store.close()


class TestCachedStore(StoreConformance):
    """The cache in front of a store passes the same suite as the store itself."""

    @pytest.fixture
    def store(self) -> Iterator[CachedStore]:
        feed = ManualFeed()
        store = CachedStore(MemoryStore(), feed, max_staleness=5, clock=FrozenClock(0))
        assert feed.ready.wait(WAIT)
        yield store
        store.close()

    def raw_dump(self, store: TokenStore) -> str:
        assert isinstance(store, CachedStore)
        return repr(vars(store)) + repr(vars(store.inner))

    def twin(self, store: TokenStore) -> TokenStore:
        """Another cache in front of the same store (closing it closes the memory store,
        which releases nothing)."""
        assert isinstance(store, CachedStore)
        feed = ManualFeed()
        other = CachedStore(store.inner, feed, max_staleness=5, clock=FrozenClock(0))
        assert feed.ready.wait(WAIT)
        return other


def _network_url(kind: str) -> tuple[str, str]:
    tag = f"tw_cache_{uuid.uuid4().hex[:8]}"
    if kind == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
        return f"{POSTGRES_URL}?tokenward_schema={tag}", tag
    require_service("Redis", REDIS_URL, redis_reachable())
    return f"{REDIS_URL}?tokenward_prefix={tag}:", tag


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_revocation_by_another_process_reaches_the_cache(kind: str) -> None:
    url, tag = _network_url(kind)
    writer: TokenStore = open_store(url)
    writer.migrate()
    reader = open_store(f"{url}&tokenward_cache=30")
    assert isinstance(reader, CachedStore)
    pause = threading.Event()
    try:
        for _ in range(250):  # bounded wait for the listener to subscribe
            if reader.listening:
                break
            pause.wait(0.02)
        r = record()
        writer.add(r)
        assert reader.get(r.digest) == r
        assert reader.get(r.digest) == r  # now from the cache
        writer.delete([r.id])
        for _ in range(250):  # the announcement arrives in milliseconds
            if reader.get(r.digest) is None:
                break
            pause.wait(0.02)
        assert reader.get(r.digest) is None
    finally:
        reader.close()
        if kind == "postgres":
            with writer._cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(f'DROP SCHEMA "{tag}" CASCADE')
        else:
            writer.drop()  # type: ignore[attr-defined]
        writer.close()
