"""The failure budget shared through Redis: every worker counts against one budget."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tokenward import MemoryStore, RequestInfo
from tokenward.guard import Guard
from tokenward.testing import FrozenClock, TokenFactory, fast_settings

redis = pytest.importorskip("redis", reason="the redis extra installs redis-py")

URL = os.environ.get("TOKENWARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
WRONG = "cpanel alice:" + "W" * 32


def _reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not os.environ.get("TOKENWARD_REQUIRE_SERVICES") and not _reachable(),
        reason=f"Redis not reachable at {URL}; .ci/run starts it",
    ),
]


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"tokenward-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_two_workers_share_one_budget(prefix: str, clock: FrozenClock) -> None:
    from tokenward.stores.redis_limiter import RedisFailureLimiter

    store = MemoryStore()
    token = TokenFactory(store, clock).mint()
    workers = [
        Guard(
            store,
            fast_settings(),
            clock=clock,
            background_flush=False,
            limiter=RedisFailureLimiter(URL, 3, 60, prefix=prefix),
        ).authenticator
        for _ in range(2)
    ]
    statuses = []
    for i in range(4):  # the failures alternate between the two workers
        decision = workers[i % 2].authenticate(RequestInfo("GET", "/", (WRONG,), "203.0.113.7"))
        assert decision.refusal is not None
        statuses.append(decision.refusal.status)
    assert statuses == [401, 401, 401, 429]
    ok = workers[0].authenticate(RequestInfo("GET", "/", (token.header,), "203.0.113.7"))
    assert ok.allowed
    other = workers[1].authenticate(RequestInfo("GET", "/", (WRONG,), "198.51.100.1"))
    assert other.refusal is not None
    assert other.refusal.status == 401


def test_redis_outage_leaves_requests_answered_normally(clock: FrozenClock) -> None:
    from tokenward.stores.redis_limiter import RedisFailureLimiter

    limiter = RedisFailureLimiter("redis://127.0.0.1:1/0", 1, 60)
    auth = Guard(
        MemoryStore(), fast_settings(), clock=clock, background_flush=False, limiter=limiter
    ).authenticator
    for _ in range(3):
        decision = auth.authenticate(RequestInfo("GET", "/", (WRONG,), "203.0.113.7"))
        assert decision.refusal is not None
        assert decision.refusal.status == 401
