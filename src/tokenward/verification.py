"""First-time (cold) argon2 verifications, bounded and shared, and the lazy upgrade of weak
verifiers.

argon2 is deliberately expensive (tens of milliseconds and ~19 MiB each with the default
profile), so a burst of new tokens after a deploy must neither exhaust memory nor stall an
event loop. Verifications run on a small dedicated thread pool (``max_concurrent`` at once,
which bounds memory); at most ``max_queued`` wait, beyond that callers get ``OverloadedError``
(a 503 with Retry-After). Concurrent requests presenting the same token share one computation.

The pool also remembers which (digest, verifier) pairs it has verified, and records a match
*before* the shared computation is forgotten: a request arriving just as the first one
finishes finds either the computation in flight or the match, never neither (which would
run argon2 a second time).

When a matched verifier is weaker than the configured profile (the parameters were raised
since the token was made), the secret is hashed again on one more thread, after the request
has its answer, and the store swaps the verifier by compare-and-set. Upgrades never delay a
verification: at most ``_MAX_UPGRADES`` wait, and the rest are left for a later cold
verification (another process, the next restart).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from time import perf_counter
from typing import TYPE_CHECKING

from tokenward.core.crypto import SecretHasher
from tokenward.errors import AuthenticationError, FailureReason, OverloadedError, StoreError

if TYPE_CHECKING:
    from tokenward.metrics import Metrics

__all__ = ["Upgrade", "VerificationPool"]

logger = logging.getLogger("tokenward.auth")

_Key = tuple[str, str]
Upgrade = Callable[[str, str, str], bool]
"""``(digest, old verifier, new verifier) -> replaced``: the store's compare-and-set."""
_MAX_UPGRADES = 16


class VerificationPool:
    def __init__(
        self,
        hasher: SecretHasher,
        max_concurrent: int,
        max_queued: int,
        remember: int = 10_000,
        upgrade: Upgrade | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.hasher = hasher
        self.upgrade = upgrade
        self.metrics = metrics
        self._max_concurrent = max_concurrent
        self._max_pending = max_concurrent + max_queued
        self._remember = remember
        self._lock = threading.Lock()
        self._inflight: dict[_Key, Future[bool]] = {}
        # digest -> the verifier argon2 matched in this process. A changed verifier
        # (rotation) or a missing record (revocation) is seen on the caller's next read.
        self._verified: dict[str, str] = {}
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._pid = 0
        self._upgrades: set[Future[None]] = set()
        self.computations = 0  # argon2 verifications, for tests and benchmarks
        self.upgraded = 0  # verifiers replaced by a stronger one

    def verified(self, digest: str, verifier: str) -> bool:
        """True when this process already matched this secret against this verifier."""
        return self._verified.get(digest) == verifier

    def load(self) -> tuple[int, int]:
        """(running, queued) verifications right now: for a metrics scrape, not the request
        path (it takes the pool's lock)."""
        with self._lock:
            pending = len(self._inflight)
        running = min(pending, self._max_concurrent)
        return running, pending - running

    def forget(self) -> None:
        """Every later request verifies afresh (a new store, or a test wanting cold runs)."""
        with self._lock:
            self._verified.clear()

    def verify(self, digest: str, verifier: str, secret: str, current: bool = True) -> None:
        """Blocking: for WSGI worker threads. Raises ``AuthenticationError`` on mismatch.
        ``current``: the verifier is the token's current one (a rotated-away secret's
        verifier is never upgraded: it expires with its grace period)."""
        self._raise_unless(self._submit(digest, verifier, secret, current).result())

    async def averify(self, digest: str, verifier: str, secret: str, current: bool = True) -> None:
        """Awaits the pool, so the event loop keeps serving other requests meanwhile."""
        future = self._submit(digest, verifier, secret, current)
        self._raise_unless(await asyncio.wrap_future(future))

    def settle(self, timeout: float | None = None) -> None:
        """Wait until the upgrades queued so far have been written (tests, benchmarks)."""
        with self._lock:
            pending = set(self._upgrades)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        """Stop the threads. A running upgrade finishes; queued ones are dropped (they
        happen again at the token's next cold verification)."""
        executors, self._executors = self._executors, {}
        for name, executor in executors.items():
            executor.shutdown(wait=True, cancel_futures=name == "upgrade")

    def _submit(self, digest: str, verifier: str, secret: str, current: bool) -> Future[bool]:
        key = (digest, verifier)
        with self._lock:
            future = self._inflight.get(key)
            if future is not None:
                return future  # same token already being verified: share the answer
            if self._verified.get(digest) == verifier:
                future = Future()  # matched just now, after the caller looked
                future.set_result(True)
                return future
            if len(self._inflight) >= self._max_pending:
                raise OverloadedError("too many first-time token verifications queued")
            future = self._executor("verify").submit(self._compute, key, secret, current)
            self._inflight[key] = future
        future.add_done_callback(lambda _: self._forget(key))
        return future

    def _compute(self, key: _Key, secret: str, current: bool) -> bool:
        digest, verifier = key
        with self._lock:
            self.computations += 1
        started = perf_counter()  # nothing next to argon2's tens of milliseconds
        try:
            self.hasher.verify(verifier, secret)
        except AuthenticationError:
            if self.metrics is not None:
                self.metrics.verification(perf_counter() - started, False)
            return False
        self._matched(digest, verifier)
        if self.metrics is not None:
            self.metrics.verification(perf_counter() - started, True)
        if current and self.upgrade is not None and self.hasher.needs_upgrade(verifier):
            self._queue_upgrade(digest, verifier, secret)
        return True

    def _matched(self, digest: str, verifier: str) -> None:
        if not self._remember:
            return
        with self._lock:
            if len(self._verified) >= self._remember and digest not in self._verified:
                self._verified.pop(next(iter(self._verified)))
            self._verified[digest] = verifier

    def _queue_upgrade(self, digest: str, verifier: str, secret: str) -> None:
        with self._lock:
            if len(self._upgrades) >= _MAX_UPGRADES:
                return  # busy: a later cold verification upgrades it
            future = self._executor("upgrade").submit(self._upgrade, digest, verifier, secret)
            self._upgrades.add(future)
        future.add_done_callback(self._upgrade_done)

    def _upgrade(self, digest: str, old: str, secret: str) -> None:
        assert self.upgrade is not None
        new = self.hasher.hash(secret)
        try:
            replaced = self.upgrade(digest, old, new)
        except StoreError as exc:
            logger.warning("could not upgrade a token's argon2 verifier: %s", exc)
            return
        if replaced:
            with self._lock:
                self.upgraded += 1
            self._matched(digest, new)  # hashed from the secret that just matched
            logger.info("upgraded a token's argon2 verifier to the current parameters")

    def _upgrade_done(self, future: Future[None]) -> None:
        with self._lock:
            self._upgrades.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            logger.error("argon2 verifier upgrade failed", exc_info=error)

    def _forget(self, key: _Key) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _executor(self, name: str) -> ThreadPoolExecutor:
        """Made on first use, and again in a forked child (threads do not survive a fork)."""
        if self._pid != os.getpid():
            self._pid, self._executors = os.getpid(), {}
        executor = self._executors.get(name)
        if executor is None:
            workers = self._max_concurrent if name == "verify" else 1
            executor = ThreadPoolExecutor(workers, thread_name_prefix=f"tokenward-{name}")
            self._executors[name] = executor
        return executor

    @staticmethod
    def _raise_unless(matched: bool) -> None:
        if not matched:
            raise AuthenticationError(FailureReason.BAD_SECRET)
