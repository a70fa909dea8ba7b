"""Leak reports: what a reported credential is, and the queue that revokes it later.

A report is read into lookup digests at once (``read_report``), so nothing waiting in the
queue holds a secret, and the store is touched only by ``LeakRevoker``, after the reporter
has had its answer: how long the answer takes cannot depend on whether a token matched.

The revoker works through reports in order on one background thread. A store failure keeps
the report first in line and the thread tries again after a pause (1 s, doubling to a
minute); ``close`` stops the thread and works through what is left, so a report accepted
before shutdown is not dropped while the store can still be reached.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import re
import threading

from tokenward.core.crypto import lookup_digest
from tokenward.core.formats import realms_of
from tokenward.core.policy import opens
from tokenward.core.tokens import TokenRecord
from tokenward.errors import ConfigurationError, StoreError, ValidationError
from tokenward.management.service import TokenService

__all__ = [
    "MAX_CREDENTIALS",
    "MAX_CREDENTIAL_LENGTH",
    "LeakReport",
    "LeakRevoker",
    "credential_digests",
    "read_report",
]

logger = logging.getLogger("tokenward.leaks")

MAX_CREDENTIALS = 100  # per request
# A full header value is at most ~190 characters (a 128-character user name, a prefixed
# token); the rest is room for whitespace, never for a second value.
MAX_CREDENTIAL_LENGTH = 512
_SHAPE = 'expected {"credentials": ["<token or Authorization value>", ...]}'
# A bare secret, or ``[Authorization:] cpanel|whm USER:SECRET``. The user is not checked: a
# leaked secret is leaked whoever's name is sent with it.
_VALUE = re.compile(
    r"(?:authorization[ \t]*:[ \t]*)?(?:(?:cpanel|whm)[ \t]+[^\s:]{1,128}:)?(\S+)",
    re.ASCII | re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True, slots=True)
class LeakReport:
    """One request's credentials as lookup digests (each secret's, in both realms; nothing
    for an item that holds no token): ``count`` items, ``tokens`` distinct secrets among
    them, and who sent them."""

    source: str
    count: int
    tokens: int
    digests: tuple[str, ...] = dataclasses.field(repr=False)


def credential_digests(item: str) -> tuple[str, ...]:
    """The lookup digests of the token secret ``item`` holds (surrounding whitespace
    ignored) in each realm it may open, or ``()`` when it holds none in either format. A
    cPanel-format secret may open either realm; a prefixed one opens the realm it names."""
    match = _VALUE.fullmatch(item.strip())
    if match is None:
        return ()
    return tuple(lookup_digest(realm, match[1]) for realm in realms_of(match[1]))


def read_report(body: bytes, source: str) -> LeakReport:
    """The report in a request body, or ``ValidationError`` saying what is wrong with its
    shape: a message that depends on the body alone, never on the store, and never quotes
    an item."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationError(f"the body is not JSON: {_SHAPE}") from None
    items = payload.get("credentials") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise ValidationError(_SHAPE)
    if not items:
        raise ValidationError("no credentials given")
    if len(items) > MAX_CREDENTIALS:
        raise ValidationError(f"at most {MAX_CREDENTIALS} credentials per request")
    found: dict[tuple[str, ...], None] = {}  # each secret's digests, in order, once
    for number, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise ValidationError(f"credential {number} is not a string: {_SHAPE}")
        if len(item) > MAX_CREDENTIAL_LENGTH:
            raise ValidationError(
                f"credential {number} is longer than {MAX_CREDENTIAL_LENGTH} characters"
            )
        if digests := credential_digests(item):
            found[digests] = None
    return LeakReport(source, len(items), len(found), tuple(d for ds in found for d in ds))


class LeakRevoker:
    """Revokes reported tokens, as ``TokenService.revoke_leaked`` does, off the request path.

    ``submit`` only queues (``False`` when ``max_waiting`` reports already wait or are
    promised); the background thread starts with the first report. ``reserve`` promises a
    place first, so that a caller can answer before it submits: the thread then cannot start
    on a report while its reporter is still waiting for the answer. ``background=False``
    leaves every report waiting until ``drain`` (tests drive it so, with no thread and no
    timing)."""

    def __init__(
        self,
        service: TokenService,
        *,
        max_waiting: int = 1000,
        background: bool = True,
        retry: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        if max_waiting < 1:
            raise ConfigurationError("max_waiting must be at least 1")
        self.service = service
        self.max_waiting = max_waiting
        self.background = background
        self._retry = retry
        self._waiting: collections.deque[LeakReport] = collections.deque()
        self._reserved = 0  # places promised to reports not yet submitted
        self._ready = threading.Condition()
        self._working = threading.Lock()  # one report at a time: the thread's, or drain's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LeakRevoker({self.service.store!r}, waiting={self.waiting})"

    @property
    def waiting(self) -> int:
        """Reports accepted and not yet processed."""
        return len(self._waiting)

    def reserve(self) -> bool:
        """Promise a place to a report ``submit(report, reserved=True)`` brings later; ``False``
        when the queue is full."""
        with self._ready:
            if len(self._waiting) + self._reserved >= self.max_waiting:
                return False
            self._reserved += 1
            return True

    def submit(self, report: LeakReport, *, reserved: bool = False) -> bool:
        with self._ready:
            if reserved and self._reserved > 0:
                self._reserved -= 1
            elif len(self._waiting) + self._reserved >= self.max_waiting:
                return False
            self._waiting.append(report)
            self._ready.notify()
        if self.background and self._thread is None:
            self._start()
        return True

    def drain(self) -> int:
        """Process every waiting report now, in this thread; returns how many tokens were
        revoked. A store failure stops it and leaves that report first in line."""
        try:
            return self._work()
        except StoreError as exc:
            logger.warning("could not process leak reports: %s; %d waiting", exc, self.waiting)
            return 0

    def close(self) -> None:
        """Stop the thread and process what waits. Reports still waiting after that (the
        store cannot be reached) are lost, and said to be, loudly."""
        with self._ready:
            self._stop.set()
            self._ready.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.drain()
        if self._waiting:
            lost = sum(report.count for report in self._waiting)
            logger.error(
                "%d leak report(s) (%d credential(s)) were not processed at shutdown: the "
                "store cannot be reached; the tokens are not revoked",
                len(self._waiting),
                lost,
            )

    # -- the work ---------------------------------------------------------------------------

    def _work(self) -> int:
        revoked = 0
        with self._working:
            while True:
                with self._ready:
                    if not self._waiting:
                        return revoked
                    report = self._waiting[0]
                try:
                    revoked += self._revoke(report)
                except StoreError:
                    raise
                except Exception:  # a bug, not an outage: retrying would block every report
                    logger.exception("a leak report from %s could not be processed", report.source)
                with self._ready:
                    self._waiting.popleft()

    def _revoke(self, report: LeakReport) -> int:
        store, now = self.service.store, self.service.clock()
        found: dict[str, TokenRecord] = {}
        for digest in report.digests:
            record = store.get(digest)
            if record is not None and opens(record, digest, now):
                found.setdefault(record.id, record)
        marked = self.service.revoke_leaked(found.values(), source=report.source) if found else 0
        if marked:
            logger.info("revoked %d token(s) reported leaked by %s", marked, report.source)
        return marked

    def _start(self) -> None:
        with self._ready:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="tokenward-leaks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        first, longest = self._retry
        pause = first
        stop = self._stop
        while not stop.is_set():
            with self._ready:
                while not self._waiting and not stop.is_set():
                    self._ready.wait()
            if stop.is_set():
                return
            try:
                self._work()
                pause = first
            except StoreError as exc:
                logger.warning(
                    "could not process leak reports: %s; %d waiting, retrying in %g s",
                    exc,
                    self.waiting,
                    pause,
                )
                stop.wait(pause)
                pause = min(pause * 2, longest)
