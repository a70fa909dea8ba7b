"""The only place where the core meets a store.

One request: route requirement → parse the header → one indexed store read by lookup digest
→ the token's standing (owner, expiry, address) → argon2 only if this process has not yet
verified that exact verifier → route ACLs → the method, for a read-only token → last use
noted in memory. The sync and async entry points share every step but the two that wait
(the store read and a cold verification), so the logic exists once.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from time import perf_counter
from typing import TYPE_CHECKING

from tokenward.audit import AuditEvent
from tokenward.core.crypto import header_digest, lookup_digest
from tokenward.core.header import MAX_HEADER_LENGTH, Credentials, parse_authorization
from tokenward.core.network import Address
from tokenward.core.policy import UNRESTRICTED, Owner, authorize, check_standing
from tokenward.core.request import RequestInfo
from tokenward.core.responses import Refusal, Responses
from tokenward.core.settings import Settings
from tokenward.core.tokens import SAFE_METHODS, Identity, TokenRecord
from tokenward.errors import (
    AuthenticationError,
    FailureReason,
    OverloadedError,
    PermissionDeniedError,
    StoreError,
)
from tokenward.limits import budget_key
from tokenward.stores.base import TokenStore

if TYPE_CHECKING:
    from tokenward.core.tokens import Realm
    from tokenward.guard import Guard
    from tokenward.metrics import Metrics, Result

__all__ = ["Authenticator", "Decision"]

logger = logging.getLogger("tokenward.auth")

# Failures that say nothing about the caller's credentials: not counted against its budget.
_NOT_THE_CALLERS_FAULT = frozenset(
    {
        FailureReason.MISSING,
        FailureReason.STORE_UNAVAILABLE,
        FailureReason.OVERLOADED,
        FailureReason.MISSING_ACL,
        FailureReason.READ_ONLY,
    }
)
_SEEN_LIMIT = 10_000
_WARM_LIMIT = 4096
_SECURE_SCHEMES = ("https", "wss")
_text = functools.lru_cache(maxsize=8192)(str)  # an address's text, once per address


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request: pass on (with an identity, or none on a public route),
    or answer with ``refusal``. ``reason`` is for logs and ``tokenward check`` only."""

    identity: Identity | None = None
    refusal: Refusal | None = None
    reason: FailureReason | None = None
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return self.refusal is None


_PASS = Decision()
_Cold = tuple[str, str, str, bool]  # digest, verifier, secret, is the token's current secret


# The header's keyed digest (core.crypto.header_digest), peer, forwarding header.
_WarmKey = tuple[bytes, str | None, str | None]


@dataclasses.dataclass(slots=True, eq=False)
class _Warm:
    """What the full path concluded about one token's current secret, sent from one peer
    (through one forwarding header): verified and in good standing as of ``record``, the
    very object the store handed out, with ``owner``'s standing; the decision per route
    requirement. It holds a keyed digest, never the secret."""

    record: TokenRecord
    owner: Owner
    ip: str | None
    decisions: dict[frozenset[str], Decision]


@dataclasses.dataclass(slots=True)
class _Attempt:
    request: RequestInfo
    credentials: Credentials
    digest: str
    required_acls: frozenset[str]
    client: Address | None
    warm_key: _WarmKey | None = None  # computed when looked up, reused when remembered
    warm: _Warm | None = None
    now: float = 0.0
    owner: Owner = UNRESTRICTED
    cold: bool = False  # argon2 ran for it (reported to the guard's metrics)


class Authenticator:
    """Decides requests under one set of route rules, with everything else (store, pool,
    limiter, last-use writer, audit hook) from its ``Guard``, which builds it:
    ``Guard(store, settings, ...).authenticator``, or ``guard.authenticator_for(rules)``.
    """

    def __init__(self, guard: Guard, settings: Settings | None = None) -> None:
        self.guard = guard
        self.settings = settings or guard.settings
        self.store = guard.store
        # An in-process store's aget is its get: call that, and spare a coroutine per request.
        self._inline_reads = type(guard.store).aget is TokenStore.aget
        self.clock = guard.clock
        self.directory = guard.directory
        self.audit = guard.audit
        self.audit_success = guard.audit_success
        self.limiter = guard.limiter
        self.verifications = guard.verifications
        self.usage = guard.usage
        self.metrics = guard.metrics
        self.responses = (
            guard.responses
            if settings is None
            else Responses(self.settings.realm_label, self.settings.retry_after)
        )
        self._seen: dict[str, set[str]] = {}  # token id -> client addresses seen here
        # Tokens granted a moment ago, so that the next request with the same secret from
        # the same peer repeats only what can have changed since: see ``warm``.
        self._warm: dict[_WarmKey, _Warm] = {}
        # A request over plain HTTP can only be judged on the full path when HTTPS is
        # required (behind trusted proxies the scheme is theirs to say).
        self._warm_schemes: tuple[str, ...] | None = (
            None
            if not self.settings.https_only
            else (() if self.settings.proxy_networks else _SECURE_SCHEMES)
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Authenticator({self.store!r})"

    def authenticate(self, request: RequestInfo) -> Decision:
        metrics = self.metrics
        started = 0.0 if metrics is None else perf_counter()
        attempt = self._begin(request)
        if isinstance(attempt, Decision):
            return attempt if metrics is None else self._measured(metrics, started, attempt)
        decision: Decision | None = None  # stays None when read, screened and verified
        try:
            if metrics is None:
                record = self.store.get(attempt.digest)
            else:
                record = self._timed_get(metrics, attempt.digest)
            if attempt.warm is not None and (hit := self._repeat(attempt, record)):
                decision = hit
            elif isinstance(step := self._read(attempt, record), Decision):
                decision = step
            elif step is not None:
                attempt.cold = True
                self.verifications.verify(*step)
        except Exception as exc:  # noqa: BLE001 - mapped below, never a pass
            decision = self._failed(attempt, exc)
        if decision is None:
            assert record is not None  # read and screened
            decision = self._grant(attempt, record)
        return decision if metrics is None else self._measured(metrics, started, decision, attempt)

    async def authenticate_async(self, request: RequestInfo) -> Decision:
        metrics = self.metrics
        started = 0.0 if metrics is None else perf_counter()
        attempt = self._begin(request)
        if isinstance(attempt, Decision):
            return attempt if metrics is None else self._measured(metrics, started, attempt)
        decision: Decision | None = None  # stays None when read, screened and verified
        try:
            if metrics is None:
                if self._inline_reads:
                    record = self.store.get(attempt.digest)
                else:
                    record = await self.store.aget(attempt.digest)
            elif self._inline_reads:
                record = self._timed_get(metrics, attempt.digest)
            else:
                record = await self._timed_aget(metrics, attempt.digest)
            if attempt.warm is not None and (hit := self._repeat(attempt, record)):
                decision = hit
            elif isinstance(step := self._read(attempt, record), Decision):
                decision = step
            elif step is not None:
                attempt.cold = True
                await self.verifications.averify(*step)
        except Exception as exc:  # noqa: BLE001 - mapped below, never a pass
            decision = self._failed(attempt, exc)
        if decision is None:
            assert record is not None  # read and screened
            decision = self._grant(attempt, record)
        return decision if metrics is None else self._measured(metrics, started, decision, attempt)

    def close(self) -> None:
        """Closes the guard (pending last-used times written, threads stopped)."""
        self.guard.close()

    async def aclose(self) -> None:
        """``close`` plus what the store opened on the event loop (ASGI lifespan shutdown)."""
        await self.guard.aclose()

    # -- the shared steps -----------------------------------------------------------------

    def _begin(self, request: RequestInfo) -> Decision | _Attempt:  # noqa: PLR0911 - in order
        settings = self.settings
        requirement = settings.requirement(request.method, request.path)
        if requirement is None:
            return self._refuse(request, None, FailureReason.UNSAFE_PATH)
        access, required = requirement
        if access == "public":
            return _PASS
        try:
            credentials = parse_authorization(request.authorization)
        except AuthenticationError as exc:
            return self._refuse(request, None, exc.reason, exc.detail)
        if credentials is None or credentials.realm not in settings.realms:
            if access == "optional":
                return _PASS
            return self._refuse(request, credentials, FailureReason.MISSING)
        if settings.https_only and settings.client_scheme(request) not in ("https", "wss"):
            return self._refuse(
                request,
                credentials,
                FailureReason.INSECURE_TRANSPORT,
                "token sent over plain HTTP: it may be exposed, consider rotating it",
            )
        digest = lookup_digest(credentials.realm, credentials.secret)
        attempt = _Attempt(request, credentials, digest, required, settings.client_address(request))
        if self._warm:
            attempt.warm = self._warm.get(self._warm_key(attempt))
        return attempt

    @staticmethod
    def _warm_key(attempt: _Attempt) -> _WarmKey:
        if attempt.warm_key is None:
            request = attempt.request  # it parsed, so it has exactly one header
            value = request.authorization[0].encode("utf-8", "surrogatepass")
            attempt.warm_key = (header_digest(value), request.peer, request.forwarded)
        return attempt.warm_key

    # -- the warm path ----------------------------------------------------------------------

    def warm(
        self,
        method: str,
        required: frozenset[str],
        *,
        authorization: bytes,
        peer: str | None,
        forwarded: str | None,
        scheme: str,
    ) -> Decision | None:
        """The decision for a request that repeats one this process granted a moment ago,
        or ``None``: then the shell builds a ``RequestInfo`` and takes the full path.

        For the protocol shells, which call it with the request's one ``Authorization``
        value as sent (a ``str`` as ``value.encode("utf-8", "surrogatepass")``; a request
        with none or several takes the full path) and the route's requirement (never
        public: they pass those on themselves). It answers only a grant: this process
        granted this very header value from this peer, the store hands out the very record
        it granted (any revocation, rotation or edit, in any process, makes a new one), not
        expired now, the owner's standing unchanged, the method allowed for a read-only
        token, and the route's ACLs already judged. Everything else, refusals included,
        takes the full path. Nothing is parsed: the value is only ever compared, by its
        keyed digest, with values the full path parsed, checked and granted.
        """
        metrics = self.metrics
        started = 0.0 if metrics is None else perf_counter()
        if not self._warm or not self._inline_reads or len(authorization) > MAX_HEADER_LENGTH:
            return None
        entry = self._warm.get((header_digest(authorization), peer, forwarded))
        if entry is None:
            return None
        schemes = self._warm_schemes
        if schemes is not None and scheme not in schemes:
            return None
        try:
            record = self.store.get(entry.record.digest)
            decision = self._repeated(entry, record, method, required)
        except Exception:  # noqa: BLE001 - the full path reads again and maps it
            return None
        if metrics is not None and decision is not None:
            metrics.authenticated(
                "granted", None, entry.record.realm, False, perf_counter() - started
            )
        return decision

    def _repeat(self, attempt: _Attempt, record: TokenRecord | None) -> Decision | None:
        assert attempt.warm is not None
        schemes = self._warm_schemes
        if schemes is not None and attempt.request.scheme not in schemes:
            return None
        request = attempt.request
        return self._repeated(attempt.warm, record, request.method, attempt.required_acls)

    def _repeated(  # noqa: PLR0911 - one return per precondition, in order
        self,
        entry: _Warm,
        record: TokenRecord | None,
        method: str,
        required: frozenset[str],
    ) -> Decision | None:
        """``entry``'s decision if nothing it rests on has changed, else ``None``. The user
        needs no check: the entry's key is the very header value granted, user and all, and
        the record is the very object granted, user and all."""
        if record is not entry.record:
            return None
        decision = entry.decisions.get(required)
        if decision is None:
            return None
        now = self.clock()
        if record.expires_at is not None and int(now) > record.expires_at:
            return None
        if record.readonly and method not in SAFE_METHODS:
            return None
        directory = self.directory
        if directory is not None and directory.owner(record.realm, record.user) != entry.owner:
            return None
        ip = entry.ip
        if self.audit is not None and ip is not None:
            seen = self._seen.get(record.id)
            if seen is None or ip not in seen:
                return None  # the full path tells the audit log about a new address
        self.usage.note(record.id, now, ip)
        return decision

    def _screen(self, attempt: _Attempt, record: TokenRecord | None) -> Decision | None:
        """A refusal for an unknown token or one in bad standing, before any argon2."""
        request, credentials = attempt.request, attempt.credentials
        if record is None:
            return self._refuse(request, credentials, FailureReason.UNKNOWN_TOKEN)
        attempt.now = self.clock()
        try:
            attempt.owner = self.standing(
                record,
                user=credentials.user,
                digest=attempt.digest,
                client=attempt.client,
                now=attempt.now,
            )
        except AuthenticationError as exc:
            return self._refuse(request, credentials, exc.reason, exc.detail, record.name)
        return None

    def standing(
        self,
        record: TokenRecord,
        *,
        user: str,
        digest: str,
        client: Address | None,
        now: float,
    ) -> Owner:
        """The owner of ``record`` when the token, presented as ``user`` with the secret of
        ``digest`` from ``client``, is in good standing (owner known and active, not expired,
        address allowed); ``AuthenticationError`` otherwise. Requests and the web page's
        sessions are judged by this one rule."""
        owner = (
            UNRESTRICTED
            if self.directory is None
            else self.directory.owner(record.realm, record.user)
        )
        check_standing(
            record,
            user=user,
            used_previous_secret=digest != record.digest,
            owner=owner,
            now=now,
            client=client,
        )
        assert owner is not None  # check_standing refuses an unknown owner
        return owner

    async def identity_now(
        self,
        digest: str,
        *,
        token_id: str,
        user: str,
        client: Address | None,
        required: frozenset[str],
    ) -> Identity | None:
        """What the token ``token_id``, whose secret has lookup digest ``digest``, grants
        right now, or ``None``: revoked or rotated away, owner gone or suspended, expired,
        used from an address it does not allow, or lacking ``required``. For sessions
        opened with a token (the web page), judged by the same rule as requests."""
        record = await self.store.aget(digest)
        if record is None or record.id != token_id:
            return None
        try:
            owner = self.standing(record, user=user, digest=digest, client=client, now=self.clock())
            return authorize(record, owner, required)
        except (AuthenticationError, PermissionDeniedError):
            return None

    def _read(self, attempt: _Attempt, record: TokenRecord | None) -> Decision | _Cold | None:
        """After the store read: a refusal, or what a cold verification needs, or ``None``
        when this process already verified that verifier (the warm path)."""
        refusal = self._screen(attempt, record)
        if refusal is not None:
            return refusal
        assert record is not None  # screened
        verifier, secret = self._secret_pair(attempt, record)
        if self.verifications.verified(attempt.digest, verifier):
            return None
        return attempt.digest, verifier, secret, attempt.digest == record.digest

    @staticmethod
    def _secret_pair(attempt: _Attempt, record: TokenRecord) -> tuple[str, str]:
        if attempt.digest == record.digest:
            return record.verifier, attempt.credentials.secret
        return record.previous_verifier or "", attempt.credentials.secret

    def _timed_get(self, metrics: Metrics, digest: str) -> TokenRecord | None:
        started = perf_counter()
        try:
            record = self.store.get(digest)
        except Exception:
            metrics.store_read(perf_counter() - started, False)
            raise
        metrics.store_read(perf_counter() - started, True)
        return record

    async def _timed_aget(self, metrics: Metrics, digest: str) -> TokenRecord | None:
        started = perf_counter()
        try:
            record = await self.store.aget(digest)
        except Exception:
            metrics.store_read(perf_counter() - started, False)
            raise
        metrics.store_read(perf_counter() - started, True)
        return record

    @staticmethod
    def _measured(
        metrics: Metrics, started: float, decision: Decision, attempt: _Attempt | None = None
    ) -> Decision:
        """``decision``, reported once it is made (outside the store's ``try``: a report
        cannot turn into a refusal, nor be made twice)."""
        if decision.refusal is not None:
            result: Result = "refused"
        else:
            result = "passed" if decision.identity is None else "granted"
        realm: Realm | None = None if attempt is None else attempt.credentials.realm
        cold = attempt is not None and attempt.cold
        metrics.authenticated(result, decision.reason, realm, cold, perf_counter() - started)
        return decision

    def _failed(self, attempt: _Attempt, exc: Exception) -> Decision:
        request, credentials = attempt.request, attempt.credentials
        if isinstance(exc, AuthenticationError):
            return self._refuse(request, credentials, exc.reason, exc.detail)
        if isinstance(exc, OverloadedError):
            return self._refuse(request, credentials, FailureReason.OVERLOADED)
        if isinstance(exc, StoreError):
            logger.warning("token store unavailable: %s", exc)
        else:  # a broken store or user directory must fail closed, loudly
            logger.error("unexpected error while authenticating", exc_info=exc)
        return self._refuse(request, credentials, FailureReason.STORE_UNAVAILABLE)

    def _grant(self, attempt: _Attempt, record: TokenRecord) -> Decision:
        request, credentials = attempt.request, attempt.credentials
        try:
            identity = authorize(record, attempt.owner, attempt.required_acls)
        except PermissionDeniedError as exc:
            return self._refuse(
                request, credentials, FailureReason.MISSING_ACL, str(exc), record.name
            )
        if record.readonly and request.method not in SAFE_METHODS:
            detail = f"{request.method} with a read-only token"
            return self._refuse(request, credentials, FailureReason.READ_ONLY, detail, record.name)
        decision = Decision(identity=identity)
        ip = None if attempt.client is None else _text(attempt.client)
        self.usage.note(record.id, attempt.now, ip)
        if attempt.digest == record.digest and not self.audit_success:
            self._remember(attempt, record, ip, decision)
        if self.audit is not None:
            if ip is not None and self._first_sight(record, ip):
                self._emit(
                    "auth.new_address",
                    request,
                    credentials,
                    token_name=record.name,
                    detail="first use of this token from this address",
                )
            if self.audit_success:
                self._emit("auth.success", request, credentials, token_name=record.name)
        return decision

    def _remember(
        self, attempt: _Attempt, record: TokenRecord, ip: str | None, decision: Decision
    ) -> None:
        """Enter a grant of the token's current secret for the warm path (a previous
        secret's grace ends on a clock the warm path does not read, so it never enters)."""
        key = self._warm_key(attempt)
        entry = self._warm.get(key)
        if entry is None or entry.record is not record or entry.owner != attempt.owner:
            if len(self._warm) >= _WARM_LIMIT:
                self._warm.clear()
            entry = _Warm(record, attempt.owner, ip, {})
            self._warm[key] = entry
        entry.decisions[attempt.required_acls] = decision

    def _first_sight(self, record: TokenRecord, ip: str) -> bool:
        """True the first time this process sees the token used from ``ip``, unless that
        address is the store's last-used one (then it is not news)."""
        seen = self._seen.get(record.id)
        if seen is not None and ip in seen:
            return False
        with self._lock:
            if len(self._seen) >= _SEEN_LIMIT:
                self._seen.clear()
            seen = self._seen.setdefault(record.id, set())
            if len(seen) >= 64:
                seen.clear()
            seen.add(ip)
        return ip != record.last_used_ip

    def _refuse(
        self,
        request: RequestInfo,
        credentials: Credentials | None,
        reason: FailureReason,
        detail: str = "",
        token_name: str | None = None,
    ) -> Decision:
        if reason is FailureReason.MISSING_ACL or reason is FailureReason.READ_ONLY:
            response = self.responses.forbidden
        elif reason is FailureReason.UNSAFE_PATH:
            response = self.responses.bad_request
        elif reason in (FailureReason.STORE_UNAVAILABLE, FailureReason.OVERLOADED):
            response = self.responses.unavailable
        else:
            response = self.responses.unauthorized
        if self.limiter is not None and reason not in _NOT_THE_CALLERS_FAULT:
            client = self.settings.client_address(request)
            wait = self.limiter.record_failure(budget_key(client), self.clock())
            if wait:
                response = self.responses.too_many_requests(wait)
                if self.metrics is not None:
                    self.metrics.limited()
        if self.audit is not None:
            self._emit(
                "auth.failure",
                request,
                credentials,
                reason=reason,
                token_name=token_name,
                detail=detail,
            )
        return Decision(refusal=response, reason=reason, detail=detail)

    def _emit(
        self,
        kind: str,
        request: RequestInfo,
        credentials: Credentials | None,
        *,
        reason: FailureReason | None = None,
        token_name: str | None = None,
        detail: str = "",
    ) -> None:
        assert self.audit is not None
        client = self.settings.client_address(request)
        self.audit(
            AuditEvent(
                kind=kind,
                at=self.clock(),
                reason=reason,
                realm=None if credentials is None else credentials.realm.value,
                user=None if credentials is None else credentials.user,
                token_name=token_name,
                client_ip=None if client is None else str(client),
                method=request.method,
                path=request.path,
                detail=detail,
            )
        )
