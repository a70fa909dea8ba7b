"""``tokenward check``: run one header through the real authenticator and say why.

A 401 tells the client nothing, on purpose; the operator needs the precise reason. This
asks the same ``Authenticator`` the middleware uses, on a read-only view of the store, so
the answer is the middleware's answer and checking marks nothing as used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from tokenward.core.clock import Clock
from tokenward.core.crypto import Argon2Profile, lookup_digest
from tokenward.core.header import Credentials, parse_authorization
from tokenward.core.request import RequestInfo
from tokenward.core.settings import Settings
from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import FailureReason, StoreError, TokenwardError
from tokenward.guard import Guard
from tokenward.management.text import FAILURE_HINTS, format_time
from tokenward.stores.base import TokenStore, Usage

__all__ = ["CheckResult", "check_header"]


# Never the header itself in the output: a bare "USER:TOKEN" without a scheme holds a secret.
_NOT_OURS = (
    "the header must read 'cpanel USER:TOKEN' or 'whm USER:TOKEN'; another scheme (Bearer, "
    "Basic, a token without a scheme) is left to other authentication, so a route that needs "
    "a token answers 401"
)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    accepted: bool
    lines: tuple[str, ...]


class _ReadOnlyStore(TokenStore):
    """The store as the check sees it: reads pass through, last-used notes are dropped
    (a check is not a use), and anything else is refused."""

    def __init__(self, inner: TokenStore) -> None:
        self._inner = inner

    def get(self, digest: str) -> TokenRecord | None:
        return self._inner.get(digest)

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        return self._inner.find(realm, user, name)

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        return self._inner.list(realm=realm, user=user)

    def record_usage(self, usages: Sequence[Usage]) -> None:
        """Dropped on purpose: see the class docstring."""

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        return self._inner.usage_counts(token_ids, since_day=since_day)

    def close(self) -> None:
        """The caller owns the real store and closes it."""

    def add(self, record: TokenRecord) -> None:
        raise StoreError("read-only")

    def save(self, record: TokenRecord) -> None:
        raise StoreError("read-only")

    def delete(self, token_ids: Iterable[str]) -> int:
        raise StoreError("read-only")

    def delete_user(self, realm: Realm, user: str) -> int:
        raise StoreError("read-only")

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        raise StoreError("read-only")


def check_header(
    store: TokenStore,
    header: str,
    *,
    ip: str | None = None,
    path: str = "/",
    method: str = "GET",
    argon2: Argon2Profile | None = None,
    clock: Clock,
) -> CheckResult:
    """The verdict for one ``Authorization`` value, with the reason and what to look at."""
    settings = Settings(argon2=argon2 or Argon2Profile())
    auth = Guard(
        _ReadOnlyStore(store), settings, clock=clock, audit=None, background_flush=False
    ).authenticator
    try:
        decision = auth.authenticate(RequestInfo(method.upper(), path, (header,), ip))
    finally:
        auth.close()
    found = _record_for(store, header)
    if decision.identity is not None:
        identity = decision.identity
        lines = [
            f"accepted: {identity.realm.value} user {identity.user!r}, "
            f"token {identity.token_name!r}",
            f"effective ACLs: {', '.join(sorted(identity.acls))}",
            f"expires: {format_time(identity.expires_at)}",
        ]
        if identity.readonly:
            lines.append("read-only: only GET, HEAD, OPTIONS and TRACE are accepted (--method)")
        if found is not None and found[1]:
            until = format_time(found[0].previous_until)
            lines.append(f"note: this is the token's old secret; it stops working at {until}")
        return CheckResult(True, tuple(lines))
    reason = decision.reason
    assert reason is not None  # a refusal always has one
    verdict = f"refused: {reason.value}" + (f" ({decision.detail})" if decision.detail else "")
    lines = [verdict, f"hint: {FAILURE_HINTS.get(reason, reason.value)}"]
    if reason is FailureReason.MISSING and header.strip():  # sent, but not ours: not "missing"
        lines = ["refused: not a cpanel/whm header", f"hint: {_NOT_OURS}"]
    if found is not None:
        record = found[0]
        ips = ", ".join(record.whitelist_ips) or "any"
        lines.append(
            f"token: {record.realm.value} {record.user}/{record.name}, "
            f"expires {format_time(record.expires_at)}, allowed addresses {ips}"
        )
    elif reason is FailureReason.UNKNOWN_TOKEN:
        lines += _other_realm(store, header)
    return CheckResult(False, tuple(lines))


def _credentials(header: str) -> Credentials | None:
    try:
        return parse_authorization(header)
    except TokenwardError:
        return None


def _record_for(store: TokenStore, header: str) -> tuple[TokenRecord, bool] | None:
    """The token the header's secret belongs to, if any, and whether it is the old secret
    of a rotation: to show what was accepted or refused."""
    credentials = _credentials(header)
    if credentials is None:
        return None
    digest = lookup_digest(credentials.realm, credentials.secret)
    record = _get(store, digest)
    return None if record is None else (record, record.digest != digest)


def _other_realm(store: TokenStore, header: str) -> list[str]:
    """The commonest unknown token: a cpanel token sent as whm, or the reverse."""
    credentials = _credentials(header)
    if credentials is None:
        return []
    for realm in Realm:
        if realm is not credentials.realm and _get(store, lookup_digest(realm, credentials.secret)):
            return [f"note: this secret is a {realm.value} token's; send it as '{realm.value} …'"]
    return []


def _get(store: TokenStore, digest: str) -> TokenRecord | None:
    try:
        return store.get(digest)
    except TokenwardError:  # the verdict already says the store could not answer
        return None
