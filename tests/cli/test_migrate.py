"""``tokenward migrate`` asks the store itself (no duck typing), through a cache too, and says
what was done."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import TokenStore, open_store


def test_migrate_says_what_it_did_to_the_default_store(cli: Cli, workdir: Path) -> None:
    assert cli("migrate").out == "SQLiteStore('tokenward.db'): created schema version 3\n"
    assert cli("migrate").out == "SQLiteStore('tokenward.db'): schema version 3 is up to date\n"
    assert (workdir / "tokenward.db").is_file()


def test_migrate_of_a_memory_store_says_there_is_nothing_to_do(cli: Cli) -> None:
    result = cli("migrate", "--store", "memory://")
    assert (result.status, result.out) == (
        0,
        "MemoryStore(0 tokens): nothing to do: a memory store has no schema\n",
    )


def test_migrate_refuses_an_unknown_option_without_echoing_the_password(cli: Cli) -> None:
    result = cli("migrate", "--store", "postgresql://u:hunter2@127.0.0.1:1/db?tokenward_cach=5")
    assert (result.status, result.out) == (1, "")
    assert "unknown store URL option 'tokenward_cach'" in result.err
    assert "tokenward_cache, tokenward_schema" in result.err
    assert "hunter2" not in result.err


@pytest.fixture(params=["postgres", "redis"])
def network_store(request: pytest.FixtureRequest) -> Iterator[tuple[str, TokenStore]]:
    """A URL naming a fresh PostgreSQL schema or Redis prefix, and a plain (uncached) store on
    it to look with; dropped afterwards."""
    tag = f"tw_cli_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
        url = f"{POSTGRES_URL}?tokenward_schema={tag}"
    else:
        require_service("Redis", REDIS_URL, redis_reachable())
        url = f"{REDIS_URL}?tokenward_prefix={tag}:"
    plain = open_store(url)
    yield url, plain
    if request.param == "postgres":
        with plain._cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
    else:
        plain.drop()  # type: ignore[attr-defined]
    plain.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_migrate_through_the_cache_option_really_migrates(
    cli: Cli, network_store: tuple[str, TokenStore]
) -> None:
    """It once printed success and migrated nothing: the cache did not pass migrate on."""
    url, plain = network_store
    result = cli("migrate", "--store", f"{url}&tokenward_cache=5")
    assert result.status == 0, result.err
    assert result.out.startswith("CachedStore(")
    assert result.out.endswith(" version 3\n")
    assert ": created " in result.out
    assert plain.list() == []  # the schema is there: no StoreError
    assert plain.migrate().endswith("version 3 is up to date")
