"""Server-side sessions of the web page, in this process's memory.

The cookie carries only a random id; the server keeps its SHA-256, so neither a memory dump
nor a log of this dict yields a working cookie. A session never holds the token's secret:
it holds the token's id and the *lookup digest* of the secret signed in with, and the app
re-reads that record on every request, so revoking, expiring, rotating (elsewhere) or
narrowing the token ends the session at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

from tokenward.core.clock import Clock
from tokenward.core.tokens import Realm

__all__ = ["Notice", "Session", "SessionStore"]

Notice = tuple[str, str]  # (kind: "ok" | "warning" | "error", text)

_MAX_ONCE = 16  # pending secret-minting forms per session


@dataclasses.dataclass(slots=True)
class Session:
    key: str  # SHA-256 of the cookie value
    csrf: str
    realm: Realm
    user: str
    token_id: str
    digest: str  # lookup digest of the secret signed in with (not the secret)
    started: float
    seen: float
    notices: list[Notice] = dataclasses.field(default_factory=list)
    once: list[str] = dataclasses.field(default_factory=list)

    def csrf_matches(self, sent: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), sent.encode("utf-8", "replace"))

    def notify(self, kind: str, text: str) -> None:
        self.notices.append((kind, text))

    def take_notices(self) -> list[Notice]:
        notices, self.notices = self.notices, []
        return notices

    def issue_once(self) -> str:
        """A nonce for a form that mints a secret: submitting it twice (the browser's
        "resubmit?" after Back) must not create or rotate a second time."""
        nonce = secrets.token_urlsafe(16)
        self.once = [*self.once[-(_MAX_ONCE - 1) :], nonce]
        return nonce

    def spend_once(self, nonce: str) -> bool:
        for pending in self.once:
            if hmac.compare_digest(pending.encode(), nonce.encode("utf-8", "replace")):
                self.once.remove(pending)
                return True
        return False


class SessionStore:
    """Sessions end after ``idle_timeout`` seconds without a request, after ``max_age``
    in any case, and the least recently used go first when there are more than ``limit``."""

    def __init__(
        self,
        *,
        clock: Clock,
        idle_timeout: float = 900.0,
        max_age: float = 8 * 3600.0,
        limit: int = 10_000,
    ) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, *, realm: Realm, user: str, token_id: str, digest: str) -> tuple[str, Session]:
        """A new session; returns the cookie value (only the caller ever sees it)."""
        cookie = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(
            key=_key(cookie),
            csrf=secrets.token_urlsafe(32),
            realm=realm,
            user=user,
            token_id=token_id,
            digest=digest,
            started=now,
            seen=now,
        )
        with self._lock:
            self._sessions[session.key] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None) -> Session | None:
        """The live session for a cookie, its idle timer restarted; ``None`` if none."""
        if not cookie:
            return None
        now = self.clock()
        key = _key(cookie)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.seen > self.idle_timeout or now - session.started > self.max_age:
                del self._sessions[key]
                return None
            session.seen = now
            self._sessions.move_to_end(key)
            return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.key, None)


def _key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()
