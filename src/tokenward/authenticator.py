"""The only place where the core meets a store.

One request: route requirement → parse the header → one indexed store read by lookup digest
→ argon2 only if this process has not verified that exact verifier before → policy → note
last use in memory. The sync and async entry points share every step but the two that wait
(the store read and a cold verification), so the logic exists once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from tokenward.audit import AuditEvent, AuditHook, log_event
from tokenward.core.clock import Clock
from tokenward.core.crypto import SecretHasher, lookup_digest
from tokenward.core.header import Credentials, parse_authorization
from tokenward.core.network import Address, resolve_client_address
from tokenward.core.policy import UNRESTRICTED, UserDirectory, evaluate
from tokenward.core.request import RequestInfo
from tokenward.core.responses import Response, Responses
from tokenward.core.settings import Settings
from tokenward.core.tokens import Identity, TokenRecord
from tokenward.errors import (
    AuthenticationError,
    FailureReason,
    OverloadedError,
    PermissionDeniedError,
    StoreError,
)
from tokenward.stores.base import TokenStore
from tokenward.usage import UsageTracker
from tokenward.verification import VerificationPool

__all__ = ["Authenticator", "Clock", "Decision"]

logger = logging.getLogger("tokenward.auth")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request: pass on (with an identity, or none on a public route),
    or answer with ``response``. ``reason`` is for logs and ``tokenward check`` only."""

    identity: Identity | None = None
    response: Response | None = None
    reason: FailureReason | None = None
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return self.response is None


_PASS = Decision()


@dataclasses.dataclass(slots=True)
class _Attempt:
    request: RequestInfo
    credentials: Credentials
    digest: str
    required_acls: frozenset[str]


class Authenticator:
    """Decides requests. Build one per application at start-up and share it."""

    def __init__(
        self,
        store: TokenStore,
        settings: Settings | None = None,
        *,
        clock: Clock = time.time,
        directory: UserDirectory | None = None,
        audit: AuditHook | None = log_event,
        audit_success: bool = False,
        background_flush: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings = settings or Settings()
        self.clock = clock
        self.directory = directory
        self.audit = audit
        self.audit_success = audit_success
        self.responses = Responses(settings.realm_label, settings.retry_after)
        self.hasher = SecretHasher(settings.argon2)
        self.verifications = VerificationPool(
            self.hasher, settings.max_concurrent_verifications, settings.max_queued_verifications
        )
        self.usage = UsageTracker(store, settings.last_used_interval, background=background_flush)
        # digest -> verifier this process has already checked with argon2. A changed
        # verifier (rotation) or a missing record (revocation) is seen on the next read.
        self._verified: dict[str, str] = {}
        self._verified_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Authenticator({self.store!r})"

    def authenticate(self, request: RequestInfo) -> Decision:
        attempt = self._begin(request)
        if isinstance(attempt, Decision):
            return attempt
        try:
            record = self.store.get(attempt.digest)
            if record is not None and self._needs_verification(attempt, record):
                self.verifications.verify(attempt.digest, *self._secret_pair(attempt, record))
        except Exception as exc:  # noqa: BLE001 - mapped below, never a pass
            return self._failed(attempt, exc)
        return self._conclude(attempt, record)

    async def authenticate_async(self, request: RequestInfo) -> Decision:
        attempt = self._begin(request)
        if isinstance(attempt, Decision):
            return attempt
        try:
            record = await self.store.aget(attempt.digest)
            if record is not None and self._needs_verification(attempt, record):
                pair = self._secret_pair(attempt, record)
                await self.verifications.averify(attempt.digest, *pair)
        except Exception as exc:  # noqa: BLE001 - mapped below, never a pass
            return self._failed(attempt, exc)
        return self._conclude(attempt, record)

    def close(self) -> None:
        """Write pending last-used times and stop the helper threads."""
        self.usage.close()
        self.verifications.close()

    # -- the shared steps -----------------------------------------------------------------

    def _begin(self, request: RequestInfo) -> Decision | _Attempt:
        access, required = self.settings.requirement(request.method, request.path)
        if access == "public":
            return _PASS
        try:
            credentials = parse_authorization(request.authorization)
        except AuthenticationError as exc:
            return self._refuse(request, None, exc.reason, exc.detail)
        if credentials is None or credentials.realm not in self.settings.realms:
            if access == "optional":
                return _PASS
            return self._refuse(request, credentials, FailureReason.MISSING)
        digest = lookup_digest(credentials.realm, credentials.secret)
        return _Attempt(request, credentials, digest, required)

    def _needs_verification(self, attempt: _Attempt, record: TokenRecord) -> bool:
        verifier = self._secret_pair(attempt, record)[0]
        return self._verified.get(attempt.digest) != verifier

    @staticmethod
    def _secret_pair(attempt: _Attempt, record: TokenRecord) -> tuple[str, str]:
        if attempt.digest == record.digest:
            return record.verifier, attempt.credentials.secret
        return record.previous_verifier or "", attempt.credentials.secret

    def _failed(self, attempt: _Attempt, exc: Exception) -> Decision:
        if isinstance(exc, AuthenticationError):
            return self._refuse(attempt.request, attempt.credentials, exc.reason, exc.detail)
        if isinstance(exc, OverloadedError):
            return self._refuse(attempt.request, attempt.credentials, FailureReason.OVERLOADED)
        if not isinstance(exc, StoreError):
            logger.error("unexpected error while authenticating", exc_info=exc)
        else:
            logger.warning("token store unavailable: %s", exc)
        return self._refuse(attempt.request, attempt.credentials, FailureReason.STORE_UNAVAILABLE)

    def _conclude(self, attempt: _Attempt, record: TokenRecord | None) -> Decision:
        request, credentials = attempt.request, attempt.credentials
        if record is None:
            return self._refuse(request, credentials, FailureReason.UNKNOWN_TOKEN)
        self._remember(attempt.digest, self._secret_pair(attempt, record)[0])
        now = self.clock()
        client = self._client(request)
        try:
            owner = (
                UNRESTRICTED
                if self.directory is None
                else self.directory.owner(record.realm, record.user)
            )
            identity = evaluate(
                record,
                user=credentials.user,
                used_previous_secret=attempt.digest != record.digest,
                owner=owner,
                now=now,
                client=client,
                required_acls=attempt.required_acls,
            )
        except AuthenticationError as exc:
            return self._refuse(request, credentials, exc.reason, exc.detail, record.name)
        except PermissionDeniedError as exc:
            return self._refuse(
                request, credentials, FailureReason.MISSING_ACL, str(exc), record.name
            )
        except Exception as exc:
            logger.error("user directory failed", exc_info=exc)
            return self._refuse(request, credentials, FailureReason.STORE_UNAVAILABLE)
        ip = None if client is None else str(client)
        self.usage.note(record.id, now, ip)
        if self.audit is not None and self.audit_success:
            self.audit(
                self._event(
                    "auth.success",
                    request,
                    credentials,
                    reason=None,
                    token_name=record.name,
                    detail="",
                )
            )
        return Decision(identity=identity)

    def _remember(self, digest: str, verifier: str) -> None:
        if self._verified.get(digest) == verifier or not self.settings.verified_cache_size:
            return
        with self._verified_lock:
            if len(self._verified) >= self.settings.verified_cache_size:
                self._verified.pop(next(iter(self._verified)))
            self._verified[digest] = verifier

    def _client(self, request: RequestInfo) -> Address | None:
        return resolve_client_address(
            request.peer,
            request.forwarded,
            self.settings.proxy_networks,
            self.settings.proxy_header,
        )

    def _refuse(
        self,
        request: RequestInfo,
        credentials: Credentials | None,
        reason: FailureReason,
        detail: str = "",
        token_name: str | None = None,
    ) -> Decision:
        if reason is FailureReason.MISSING_ACL:
            response = self.responses.forbidden
        elif reason in (FailureReason.STORE_UNAVAILABLE, FailureReason.OVERLOADED):
            response = self.responses.unavailable
        else:
            response = self.responses.unauthorized
        if self.audit is not None:
            self.audit(
                self._event(
                    "auth.failure",
                    request,
                    credentials,
                    reason=reason,
                    token_name=token_name,
                    detail=detail,
                )
            )
        return Decision(response=response, reason=reason, detail=detail)

    def _event(
        self,
        kind: str,
        request: RequestInfo,
        credentials: Credentials | None,
        *,
        reason: FailureReason | None,
        token_name: str | None,
        detail: str,
    ) -> AuditEvent:
        client = self._client(request)
        return AuditEvent(
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
