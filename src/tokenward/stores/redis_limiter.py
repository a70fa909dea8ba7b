"""The failed-authentication budget shared by every worker and host, in Redis.

Same contract as ``tokenward.limits.MemoryFailureLimiter``: fixed windows per client key,
one round trip per failure (INCR, EXPIRE NX and TTL in one pipeline). Successful requests
never touch Redis. When Redis cannot answer, the budget is not enforced (the request still
gets its 401): the budget must never turn a Redis outage into refused valid requests.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

__all__ = ["RedisFailureLimiter"]

logger = logging.getLogger("tokenward.limits")


class RedisFailureLimiter:
    def __init__(
        self,
        client: redis.Redis | str,
        max_failures: int,
        window: float,
        *,
        prefix: str = "tokenward:failures:",
    ) -> None:
        if isinstance(client, str):
            client = redis.Redis.from_url(client, socket_timeout=1, socket_connect_timeout=1)
        self.client: redis.Redis = client
        self.max_failures = max_failures
        self.window = max(1, int(window))
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisFailureLimiter(max_failures={self.max_failures}, window={self.window})"

    def record_failure(self, key: str, now: float) -> int:
        name = self.prefix + key
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, self.window, nx=True)
            pipe.ttl(name)
            count, _, ttl = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("failure budget not enforced: Redis unavailable (%s)", exc)
            return 0
        if int(count) > self.max_failures:
            return max(1, int(ttl))
        return 0

    def reset(self, key: str) -> None:
        """Forget an address's failures (an operator's unblock)."""
        self.client.delete(self.prefix + key)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisFailureLimiter:
        return cls(url, **options)
