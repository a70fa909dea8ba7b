"""Network stores for the conformance suite: skipped with the reason when their server does
not answer, and required (failing instead) when TOKENWARD_REQUIRE_SERVICES=1 (.ci/run)."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get(
    "TOKENWARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOKENWARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_service(name: str, url: str, reachable: bool) -> None:
    if reachable:
        return
    message = f"{name} not reachable at {url.rsplit('@', maxsplit=1)[-1]}; .ci/run starts it"
    if os.environ.get("TOKENWARD_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


def postgres_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False
