"""A failed-authentication budget per client address, against brute force and noise.

Once an address has failed ``max_failures`` times within ``window`` seconds, its further
failures are answered 429 with ``Retry-After`` instead of 401. Successful requests are never
refused by the budget, so a legitimate client behind the same NAT as an attacker keeps
working. IPv6 clients are counted per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from typing import Protocol

from tokenward.core.network import Address

__all__ = ["FailureLimiter", "MemoryFailureLimiter", "budget_key"]


def budget_key(address: Address | None) -> str:
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class FailureLimiter(Protocol):
    def record_failure(self, key: str, now: float) -> int:
        """Count one failure; return the seconds to wait when the budget is spent, else 0."""
        ...


class MemoryFailureLimiter:
    """Per-process budget: fixed windows in a bounded dict (use Redis to share it)."""

    def __init__(self, max_failures: int, window: float, *, max_keys: int = 100_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def record_failure(self, key: str, now: float) -> int:
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if key not in self._windows and len(self._windows) >= self._max_keys:
                self._evict(now)
            self._windows[key] = (start, count + 1)
        if count + 1 > self.max_failures:
            return max(1, math.ceil(start + self.window - now))
        return 0

    def _evict(self, now: float) -> None:
        expired = [k for k, (start, _) in self._windows.items() if now - start >= self.window]
        for key in expired or list(self._windows)[: self._max_keys // 2]:
            del self._windows[key]
