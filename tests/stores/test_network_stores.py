"""PostgreSQL and Redis specifics: URLs, explicit migrations, outages become 503s."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.stores.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    postgres_reachable,
    redis_reachable,
    require_service,
)
from tokenward import ConfigurationError, Guard, RequestInfo, StoreError, open_store
from tokenward.cli import main
from tokenward.testing import fast_settings
from tokenward.testing.conformance import record

DOWN_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"
DOWN_REDIS = "redis://127.0.0.1:1/0"
HEADER = ("cpanel alice:" + "A" * 32,)


@pytest.mark.parametrize("url", [DOWN_POSTGRES, DOWN_REDIS], ids=["postgres", "redis"])
def test_an_unreachable_server_is_a_store_error_quickly_and_a_503(url: str) -> None:
    store = open_store(url)
    started = time.monotonic()
    with pytest.raises(StoreError) as excinfo:
        store.get("0" * 32)
    assert time.monotonic() - started < 30  # short timeouts, not a hung worker
    assert excinfo.value.__cause__ is not None  # raised from the driver's error
    auth = Guard(store, fast_settings(), background_flush=False, audit=None).authenticator
    assert auth.authenticate(RequestInfo("GET", "/", HEADER, "192.0.2.1")).reason is not None
    decision = auth.authenticate(RequestInfo("GET", "/", HEADER, "192.0.2.1"))
    assert decision.refusal is not None
    assert decision.refusal.status == 503
    async_decision = asyncio.run(auth.authenticate_async(RequestInfo("GET", "/", HEADER, "x")))
    assert async_decision.refusal is not None
    assert async_decision.refusal.status == 503


@pytest.mark.postgres
def test_postgres_schema_comes_only_from_migrate() -> None:
    require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
    schema = f"tw_{uuid.uuid4().hex[:12]}"
    url = f"{POSTGRES_URL}?tokenward_schema={schema}"
    store = open_store(url)
    with pytest.raises(StoreError, match="tokenward migrate"):
        store.get("0" * 32)
    assert main(["migrate", "--store", url]) == 0
    assert main(["migrate", "--store", url]) == 0  # idempotent
    store.add(record())
    assert len(store.list()) == 1
    with store._cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    store.close()


@pytest.mark.redis
def test_redis_url_prefix_and_migrate() -> None:
    require_service("Redis", REDIS_URL, redis_reachable())
    prefix = f"tw-url-{uuid.uuid4().hex[:8]}:"
    store = open_store(f"{REDIS_URL}?tokenward_prefix={prefix}")
    assert store.prefix == prefix  # type: ignore[attr-defined]
    assert main(["migrate", "--store", f"{REDIS_URL}?tokenward_prefix={prefix}"]) == 0
    store.add(record())
    assert len(store.list()) == 1
    store.drop()  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize(
    ("kind", "what"), [("postgres", "schema"), ("redis", "key layout")], ids=["postgres", "redis"]
)
def test_migrate_says_it_created_the_schema_then_that_it_is_up_to_date(
    kind: str, what: str
) -> None:
    tag = f"tw_report_{uuid.uuid4().hex[:8]}"
    if kind == "postgres":
        require_service("PostgreSQL", POSTGRES_URL, postgres_reachable())
        store = open_store(f"{POSTGRES_URL}?tokenward_schema={tag}")
    else:
        require_service("Redis", REDIS_URL, redis_reachable())
        store = open_store(f"{REDIS_URL}?tokenward_prefix={tag}:")
    try:
        assert store.migrate() == f"created {what} version 3"
        assert store.migrate() == f"{what} version 3 is up to date"
    finally:
        if kind == "postgres":
            with store._cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        else:
            store.drop()  # type: ignore[attr-defined]
        store.close()


def test_store_reprs_never_show_a_password() -> None:
    assert "s3cret" not in repr(open_store("postgresql://u:s3cret@127.0.0.1:1/db"))
    assert "s3cret" not in repr(open_store("redis://:s3cret@127.0.0.1:1/0"))


@pytest.mark.parametrize("value", ["true", "1", "false"])
def test_a_redis_url_asking_for_decoded_replies_is_refused_at_start_up(value: str) -> None:
    """redis-py takes any non-empty value as true; decoded replies would fail every read, so
    the store refuses the URL at once, with the password hidden (no server is contacted)."""
    url = f"redis://:hunter2@127.0.0.1:6379/0?decode_responses={value}"
    with pytest.raises(ConfigurationError, match="decode_responses") as refused:
        open_store(url)
    assert "hunter2" not in str(refused.value)
