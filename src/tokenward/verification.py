"""First-time (cold) argon2 verifications, bounded and shared.

argon2 is deliberately expensive (tens of milliseconds and ~19 MiB each with the default
profile), so a burst of new tokens after a deploy must neither exhaust memory nor stall an
event loop. Verifications run on a small dedicated thread pool (``max_concurrent`` at once,
which bounds memory); at most ``max_queued`` wait, beyond that callers get ``OverloadedError``
(a 503 with Retry-After). Concurrent requests presenting the same token share one computation.

The pool also remembers which (digest, verifier) pairs it has verified, and records a match
*before* the shared computation is forgotten: a request arriving just as the first one
finishes finds either the computation in flight or the match, never neither (which would
run argon2 a second time).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from tokenward.core.crypto import SecretHasher
from tokenward.errors import AuthenticationError, FailureReason, OverloadedError

__all__ = ["VerificationPool"]

_Key = tuple[str, str]


class VerificationPool:
    def __init__(
        self, hasher: SecretHasher, max_concurrent: int, max_queued: int, remember: int = 10_000
    ) -> None:
        self.hasher = hasher
        self._max_concurrent = max_concurrent
        self._max_pending = max_concurrent + max_queued
        self._remember = remember
        self._lock = threading.Lock()
        self._inflight: dict[_Key, Future[bool]] = {}
        # digest -> the verifier argon2 matched in this process. A changed verifier
        # (rotation) or a missing record (revocation) is seen on the caller's next read.
        self._verified: dict[str, str] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self.computations = 0  # argon2 runs, for tests and benchmarks

    def verified(self, digest: str, verifier: str) -> bool:
        """True when this process already matched this secret against this verifier."""
        return self._verified.get(digest) == verifier

    def forget(self) -> None:
        """Every later request verifies afresh (a new store, or a test wanting cold runs)."""
        with self._lock:
            self._verified.clear()

    def verify(self, digest: str, verifier: str, secret: str) -> None:
        """Blocking: for WSGI worker threads. Raises ``AuthenticationError`` on mismatch."""
        self._raise_unless(self._submit(digest, verifier, secret).result())

    async def averify(self, digest: str, verifier: str, secret: str) -> None:
        """Awaits the pool, so the event loop keeps serving other requests meanwhile."""
        self._raise_unless(await asyncio.wrap_future(self._submit(digest, verifier, secret)))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _submit(self, digest: str, verifier: str, secret: str) -> Future[bool]:
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
            future = self._pool().submit(self._compute, key, secret)
            self._inflight[key] = future
        future.add_done_callback(lambda _: self._forget(key))
        return future

    def _compute(self, key: _Key, secret: str) -> bool:
        digest, verifier = key
        with self._lock:
            self.computations += 1
        try:
            self.hasher.verify(verifier, secret)
        except AuthenticationError:
            return False
        if self._remember:
            with self._lock:
                if len(self._verified) >= self._remember and digest not in self._verified:
                    self._verified.pop(next(iter(self._verified)))
                self._verified[digest] = verifier
        return True

    def _forget(self, key: _Key) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._executor = ThreadPoolExecutor(
                max_workers=self._max_concurrent, thread_name_prefix="tokenward-verify"
            )
        return self._executor

    @staticmethod
    def _raise_unless(matched: bool) -> None:
        if not matched:
            raise AuthenticationError(FailureReason.BAD_SECRET)
