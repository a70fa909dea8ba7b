"""The audit trail of management changes: who changed which token, when, and how.

Details describe what a token grants (names, ACLs, addresses, expiry) and nothing derived
from its secret, so the trail can be shipped anywhere.
"""

from __future__ import annotations

from tokenward.audit import AuditEvent, AuditHook
from tokenward.core.clock import Clock
from tokenward.core.tokens import Identity, Realm, TokenRecord

__all__ = ["AuditTrail", "describe", "describe_changes", "label"]


class AuditTrail:
    def __init__(self, hook: AuditHook | None, clock: Clock, operator: str | None) -> None:
        self.hook = hook
        self.clock = clock
        self.operator = operator

    def token(self, kind: str, record: TokenRecord, actor: Identity | None, detail: str) -> None:
        self._emit(kind, record.realm, record.user, record.name, actor, detail)

    def user(self, kind: str, realm: Realm, user: str, detail: str) -> None:
        self._emit(kind, realm, user, None, None, detail)

    def _emit(  # noqa: PLR0917 - private, called from the two methods above
        self,
        kind: str,
        realm: Realm,
        user: str,
        token_name: str | None,
        actor: Identity | None,
        detail: str,
    ) -> None:
        if self.hook is None:
            return
        self.hook(
            AuditEvent(
                kind=kind,
                at=self.clock(),
                realm=realm.value,
                user=user,
                token_name=token_name,
                actor=self.operator if actor is None else label(actor),
                detail=detail,
            )
        )


def label(actor: Identity) -> str:
    """How a token acting on tokens is named in events and messages."""
    return f"{actor.realm.value}:{actor.user}/{actor.token_name}"


def describe(record: TokenRecord) -> str:
    expiry = "never" if record.expires_at is None else str(record.expires_at)
    ips = ",".join(record.whitelist_ips) or "any"
    readonly = " readonly" if record.readonly else ""
    return f"acls={','.join(sorted(record.acls))} ips={ips} expires_at={expiry}{readonly}"


def describe_changes(before: TokenRecord, after: TokenRecord) -> str:
    parts = []
    if before.name != after.name:
        parts.append(f"name {before.name!r} -> {after.name!r}")
    if before.acls != after.acls:
        parts.append(f"acls {','.join(sorted(before.acls))} -> {','.join(sorted(after.acls))}")
    if before.whitelist_ips != after.whitelist_ips:
        old, new = ",".join(before.whitelist_ips), ",".join(after.whitelist_ips)
        parts.append(f"ips {old or 'any'} -> {new or 'any'}")
    if before.expires_at != after.expires_at:
        parts.append(f"expires_at {before.expires_at or 'never'} -> {after.expires_at or 'never'}")
    if before.readonly != after.readonly:
        parts.append("read-write -> read-only" if after.readonly else "read-only -> read-write")
    return "; ".join(parts)
