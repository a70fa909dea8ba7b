"""Every store runs the same conformance suite (the one shipped in tokenward.testing)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import MemoryStore, SQLiteStore, StoreError, TokenStore
from tokenward.testing.conformance import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()

    def raw_dump(self, store: TokenStore) -> str:
        assert isinstance(store, MemoryStore)
        return repr(vars(store))

    def twin(self, store: TokenStore) -> TokenStore:
        return store  # a dict is shared by being the same object


class MemoryStoreWithoutCompareAndSet(MemoryStore):
    """A user's store that keeps the protocol's default ``replace_verifier``."""

    replace_verifier = TokenStore.replace_verifier


class TestStoreWithoutCompareAndSet(StoreConformance):
    replaces_verifiers = False  # declared: the suite checks it replaces nothing

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStoreWithoutCompareAndSet()

    def raw_dump(self, store: TokenStore) -> str:
        return repr(vars(store))

    def twin(self, store: TokenStore) -> TokenStore:
        return store


def test_a_store_that_does_not_implement_migrate_refuses_it_loudly() -> None:
    """Migrating nothing and saying "done" is what the protocol's default must never do."""

    class Legacy(MemoryStore):
        migrate = TokenStore.migrate

    with pytest.raises(StoreError, match=r"Legacy does not implement migrate\(\)"):
        Legacy().migrate()


def test_the_memory_store_says_it_has_nothing_to_migrate() -> None:
    assert MemoryStore().migrate() == "nothing to do: a memory store has no schema"


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "conformance.db")
        yield store
        store.close()

    def raw_dump(self, store: TokenStore) -> str:
        assert isinstance(store, SQLiteStore)
        with sqlite3.connect(store.path) as db:
            return "\n".join(db.iterdump())

    def twin(self, store: TokenStore) -> TokenStore:
        assert isinstance(store, SQLiteStore)
        return SQLiteStore(store.path, create=False)


@pytest.mark.postgres
class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[TokenStore]:
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
        from tokenward.stores.postgres import PostgresStore

        store = PostgresStore(POSTGRES_URL, schema=f"tw_{uuid.uuid4().hex[:12]}")
        store.migrate()
        yield store
        with store._cursor() as cur:
            cur.execute(f'DROP SCHEMA "{store.schema}" CASCADE')
        store.close()

    def raw_dump(self, store: TokenStore) -> str:
        import psycopg

        schema = store.schema  # type: ignore[attr-defined]
        query = f'SELECT * FROM "{schema}".tokenward_tokens'  # noqa: S608 - our own test schema
        with psycopg.connect(POSTGRES_URL) as conn:
            rows = conn.execute(query).fetchall()
        return "\n".join(map(str, rows))

    def twin(self, store: TokenStore) -> TokenStore:
        from tokenward.stores.postgres import PostgresStore

        assert isinstance(store, PostgresStore)
        return PostgresStore(POSTGRES_URL, schema=store.schema)


@pytest.mark.redis
class TestRedisStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[TokenStore]:
        require_service("Redis", REDIS_URL, redis_reachable())
        from tokenward.stores.redis import RedisStore

        store = RedisStore(REDIS_URL, prefix=f"tw-test:{uuid.uuid4().hex}:")
        store.migrate()
        yield store
        store.drop()
        store.close()

    def raw_dump(self, store: TokenStore) -> str:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        prefix = store.prefix  # type: ignore[attr-defined]
        parts = []
        for key in client.scan_iter(f"{prefix}*"):
            name = key.decode()[len(prefix) :]
            if name.startswith(("lu:", "uc:")):  # the layout documented in tokenward.stores.redis
                value: object = client.hgetall(key)
            elif name.startswith("u:") or name == "all":
                value = client.smembers(key)
            else:
                value = client.get(key)
            parts.append(f"{key!r} {value!r}")
        return "\n".join(parts)

    def twin(self, store: TokenStore) -> TokenStore:
        from tokenward.stores.redis import RedisStore

        assert isinstance(store, RedisStore)
        return RedisStore(REDIS_URL, prefix=store.prefix)
