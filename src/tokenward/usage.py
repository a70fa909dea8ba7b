"""Last-used tracking without a store write per request.

The request path only notes the latest use in a dict. A background thread writes what has
accumulated once per interval, so a token costs at most one write per interval however busy
it is; ``close()`` writes the rest (the ``Guard`` that owns the tracker calls it: at ASGI
lifespan shutdown, from a server hook, or at a normal interpreter exit).
"""

from __future__ import annotations

import logging
import os
import threading

from tokenward.errors import StoreError
from tokenward.stores.base import TokenStore, Usage

__all__ = ["UsageTracker"]

logger = logging.getLogger("tokenward.usage")


class UsageTracker:
    def __init__(self, store: TokenStore, interval: float, *, background: bool = True) -> None:
        self._store = store
        self._interval = interval
        self.background = background
        self._pending: dict[str, Usage] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.writes = 0  # store calls made, for tests and benchmarks

    def note(self, token_id: str, at: float, ip: str | None) -> None:
        second = int(at)
        pending = self._pending.get(token_id)
        if pending is not None and pending.at == second and pending.ip == ip:
            return  # a busy token: the same second from the same address is already noted
        usage = Usage(token_id, second, ip)
        with self._lock:
            self._pending[token_id] = usage
        if self.background and (self._thread is None or self._pid != os.getpid()):
            self._start()

    def flush(self) -> int:
        """Write what is pending in one batch. On a store failure nothing is lost: the
        batch goes back, unless a newer use of the same token arrived meanwhile."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            self._store.record_usage(list(batch.values()))
        except StoreError:
            logger.warning("could not record last use of %d token(s); will retry", len(batch))
            with self._lock:
                for token_id, usage in batch.items():
                    self._pending.setdefault(token_id, usage)
            return 0
        self.writes += 1
        return len(batch)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        self.flush()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # After a fork the parent's thread does not exist here: start our own.
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name="tokenward-last-used", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
