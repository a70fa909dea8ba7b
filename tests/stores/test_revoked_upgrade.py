"""Schema version 3 (``revoked_at``, ``revoked_reason`` and the per-day usage table): a
version-2 store is upgraded in place by ``migrate()`` (SQLite also when it is opened to
write), keeping every token working, and its tokens read as not revoked."""

from __future__ import annotations

import json
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
from tokenward import SQLiteStore, StoreError, TokenStore
from tokenward.stores.base import Usage
from tokenward.testing import MintedToken, TokenFactory


def assert_kept_and_counting(store: TokenStore, token: MintedToken) -> None:
    """The token reads as it was, not revoked, and the new table takes its counts."""
    record = token.created.record
    found = store.get(record.digest)
    assert found == record
    assert found is not None
    assert not found.revoked
    store.record_usage([Usage(record.id, 86_400, None, ((1, 3),))])
    assert store.usage_counts([record.id], since_day=0) == {record.id: {1: 3}}
    store.save(record.replace(revoked_at=90_000, revoked_reason="reported leaked"))
    marked = store.get(record.digest)
    assert marked is not None
    assert (marked.revoked_at, marked.revoked_reason) == (90_000, "reported leaked")


def sqlite_version_2(path: Path) -> MintedToken:
    """A store as tokenward with schema version 2 left it, holding one token."""
    store = SQLiteStore(path)
    token = TokenFactory(store).mint("alice", "old")
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE tokenward_tokens DROP COLUMN revoked_at")
        db.execute("ALTER TABLE tokenward_tokens DROP COLUMN revoked_reason")
        db.execute("DROP TABLE tokenward_usage")
        db.execute("UPDATE tokenward_meta SET value = '2' WHERE key = 'schema_version'")
    db.close()
    return token


def test_a_version_2_sqlite_store_is_upgraded_when_opened_to_write(tmp_path: Path) -> None:
    token = sqlite_version_2(tmp_path / "t.db")
    store = SQLiteStore(tmp_path / "t.db")
    assert store.migrate() == "upgraded schema version 2 to 3"  # what the open did, said once
    assert store.migrate() == "schema version 3 is up to date"
    assert_kept_and_counting(store, token)
    store.close()
    again = SQLiteStore(tmp_path / "t.db")  # a second open changes nothing
    assert again.migrate() == "schema version 3 is up to date"
    again.close()


def test_a_version_2_sqlite_store_opened_read_only_says_to_migrate(tmp_path: Path) -> None:
    sqlite_version_2(tmp_path / "t.db")
    with pytest.raises(StoreError, match=r"schema version 2 is not 3; run `tokenward migrate`"):
        SQLiteStore(tmp_path / "t.db", create=False)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
    schema = f"tw_{uuid.uuid4().hex[:12]}"
    yield schema
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_a_version_2_postgres_schema_is_upgraded_by_migrate(postgres_schema: str) -> None:
    """Until then the request path says what to run (a 503, never a guess)."""
    import psycopg

    from tokenward.stores.postgres import PostgresStore

    store = PostgresStore(POSTGRES_URL, schema=postgres_schema)
    store.migrate()
    token = TokenFactory(store).mint("alice", "old")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{postgres_schema}".tokenward_usage')
        for column in ("revoked_at", "revoked_reason"):
            conn.execute(f'ALTER TABLE "{postgres_schema}".tokenward_tokens DROP COLUMN {column}')
        conn.execute(
            f'UPDATE "{postgres_schema}".tokenward_meta SET value = %s '  # noqa: S608 - ours
            "WHERE key = 'schema_version'",
            ("2",),
        )
    with pytest.raises(StoreError, match="older than this code; run `tokenward migrate`"):
        store.get(token.created.record.digest)
    assert store.migrate() == "upgraded schema version 2 to 3"
    assert store.migrate() == "schema version 3 is up to date"
    assert_kept_and_counting(store, token)
    store.close()


@pytest.mark.redis
def test_a_version_2_redis_layout_reads_as_not_revoked_and_migrate_records_version_3() -> None:
    """Records written before the fields existed lack them: missing means not revoked."""
    require_service("Redis", REDIS_URL, redis_reachable())
    import redis

    from tokenward.stores.redis import RedisStore

    store = RedisStore(REDIS_URL, prefix=f"tw-test:{uuid.uuid4().hex}:")
    try:
        token = TokenFactory(store).mint("alice", "old")
        client = redis.Redis.from_url(REDIS_URL)
        key = f"{store.prefix}t:{token.created.record.id}"
        document = json.loads(client.get(key) or b"{}")
        assert "revoked_at" not in document  # written only when revoked
        client.set(f"{store.prefix}schema_version", "2")
        client.close()
        assert store.migrate() == "upgraded key layout version 2 to 3"
        assert store.migrate() == "key layout version 3 is up to date"
        assert_kept_and_counting(store, token)
    finally:
        store.drop()
        store.close()
