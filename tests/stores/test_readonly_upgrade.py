"""Schema version 2 (the ``readonly`` column): a version-1 store is upgraded in place by
``migrate()`` (SQLite also when it is opened to write), keeping every token working."""

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
from tokenward.testing import MintedToken, TokenFactory


def assert_kept(store: TokenStore, token: MintedToken) -> None:
    found = store.get(token.created.record.digest)
    assert found == token.created.record.replace(readonly=False)


def sqlite_version_1(path: Path) -> MintedToken:
    """A store as tokenward with schema version 1 left it, holding one token."""
    store = SQLiteStore(path)
    token = TokenFactory(store).mint("alice", "old")
    store.close()
    with sqlite3.connect(path) as db:
        for column in ("readonly", "revoked_at", "revoked_reason"):
            db.execute(f"ALTER TABLE tokenward_tokens DROP COLUMN {column}")
        db.execute("DROP TABLE tokenward_usage")
        db.execute("UPDATE tokenward_meta SET value = '1' WHERE key = 'schema_version'")
    db.close()
    return token


def test_a_version_1_sqlite_store_is_upgraded_when_opened_to_write(tmp_path: Path) -> None:
    """Servers and ``tokenward create`` open it so: the column is added, nothing is lost."""
    token = sqlite_version_1(tmp_path / "t.db")
    store = SQLiteStore(tmp_path / "t.db")
    assert store.migrate() == "upgraded schema version 1 to 3"  # what the open did, said once
    assert store.migrate() == "schema version 3 is up to date"
    assert_kept(store, token)
    TokenFactory(store).mint("alice", "new", readonly=True)
    assert [r.readonly for r in store.list()] == [True, False]
    store.close()


def test_a_version_1_sqlite_store_opened_read_only_says_to_migrate(tmp_path: Path) -> None:
    """Read-only commands never write: they name the command that upgrades."""
    sqlite_version_1(tmp_path / "t.db")
    with pytest.raises(StoreError, match=r"schema version 1 is not 3; run `tokenward migrate`"):
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
def test_a_version_1_postgres_schema_is_upgraded_by_migrate(postgres_schema: str) -> None:
    """Until then the request path says what to run (a 503, never a guess)."""
    import psycopg

    from tokenward.stores.postgres import PostgresStore

    store = PostgresStore(POSTGRES_URL, schema=postgres_schema)
    store.migrate()
    token = TokenFactory(store).mint("alice", "old")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{postgres_schema}".tokenward_usage')
        for column in ("readonly", "revoked_at", "revoked_reason"):
            conn.execute(f'ALTER TABLE "{postgres_schema}".tokenward_tokens DROP COLUMN {column}')
        conn.execute(
            f'UPDATE "{postgres_schema}".tokenward_meta SET value = %s '  # noqa: S608 - ours
            "WHERE key = 'schema_version'",
            ("1",),
        )
    with pytest.raises(StoreError, match="older than this code; run `tokenward migrate`"):
        store.get(token.created.record.digest)
    assert store.migrate() == "upgraded schema version 1 to 3"
    assert store.migrate() == "schema version 3 is up to date"
    assert_kept(store, token)
    store.close()


@pytest.mark.redis
def test_a_version_1_redis_layout_reads_as_read_write_and_migrate_records_version_3() -> None:
    """Records written before the field existed lack it: missing means read-write."""
    require_service("Redis", REDIS_URL, redis_reachable())
    import redis

    from tokenward.stores.redis import RedisStore

    store = RedisStore(REDIS_URL, prefix=f"tw-test:{uuid.uuid4().hex}:")
    try:
        token = TokenFactory(store).mint("alice", "old", readonly=True)
        client = redis.Redis.from_url(REDIS_URL)
        key = f"{store.prefix}t:{token.created.record.id}"
        document = json.loads(client.get(key) or b"{}")
        assert document.pop("readonly") is True
        client.set(key, json.dumps(document))  # as layout 1 wrote it
        client.set(f"{store.prefix}schema_version", "1")
        client.close()
        assert_kept(store, token)
        assert store.migrate() == "upgraded key layout version 1 to 3"
        assert store.migrate() == "key layout version 3 is up to date"
    finally:
        store.drop()
        store.close()
