"""The access decision for a token that was found, in cPanel's fixed order.

Pure: the record, the time, the client address and the owner's standing are all parameters.
Access is granted if and only if: the token has not been revoked in place, it belongs to
the named user, the owner is known and active, the token (or, after a rotation, its previous
secret) has not expired, the client address is allowed, the secret verifies, the effective
ACLs cover the route, and a read-only token asks with a safe method (``SAFE_METHODS``: the
authenticator checks that last, since it is the one step that depends on the method).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

from tokenward.core.acl import effective_acls, grants
from tokenward.core.network import Address, AllowList
from tokenward.core.tokens import Identity, Realm, TokenRecord, is_within_expiry
from tokenward.errors import AuthenticationError, FailureReason, PermissionDeniedError

__all__ = ["UNRESTRICTED", "Owner", "UserDirectory", "authorize", "check_standing", "opens"]


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """A token owner's current standing. ``acls=None``: unrestricted."""

    active: bool = True
    acls: frozenset[str] | None = None


class UserDirectory(Protocol):
    """Your accounts, as tokenward needs to see them. ``None`` means no such user."""

    def owner(self, realm: Realm, user: str) -> Owner | None: ...


UNRESTRICTED = Owner()


@functools.lru_cache(maxsize=4096)
def _allow_list(entries: tuple[str, ...]) -> AllowList:
    """Allow-lists are compiled once per distinct list, not on every request."""
    return AllowList(entries)


def check_standing(
    record: TokenRecord,
    *,
    user: str,
    used_previous_secret: bool,
    owner: Owner | None,
    now: float,
    client: Address | None,
) -> None:
    """Everything but the route's ACLs, in cPanel's order. Cheap, so the authenticator runs
    it *before* argon2: a token that would be refused anyway never costs a hash, and every
    refusal takes microseconds whatever its reason. A revoked record is refused before
    anything else about it is judged: nothing can make it good again."""
    if record.revoked_at is not None:
        raise AuthenticationError(FailureReason.REVOKED, record.revoked_reason or "")
    if record.user != user:
        raise AuthenticationError(FailureReason.WRONG_USER)
    if owner is None:
        raise AuthenticationError(FailureReason.OWNER_UNKNOWN)
    if not owner.active:
        raise AuthenticationError(FailureReason.OWNER_SUSPENDED)
    if not is_within_expiry(record.expires_at, now):
        raise AuthenticationError(FailureReason.EXPIRED)
    if used_previous_secret and not _in_grace(record, now):
        raise AuthenticationError(FailureReason.ROTATED_OUT)
    if record.whitelist_ips and not _allow_list(record.whitelist_ips).allows(client):
        raise AuthenticationError(FailureReason.IP_NOT_ALLOWED, str(client or "unknown"))


def opens(record: TokenRecord, digest: str, now: float) -> bool:
    """Whether the secret whose lookup digest is ``digest`` is ``record``'s current secret,
    or its previous one while the rotation's grace period lasts (the rule
    ``check_standing`` applies). A secret rotated out for good opens nothing."""
    if digest == record.digest:
        return True
    return digest == record.previous_digest and _in_grace(record, now)


def _in_grace(record: TokenRecord, now: float) -> bool:
    return is_within_expiry(record.previous_until, now)


def authorize(record: TokenRecord, owner: Owner, required_acls: frozenset[str]) -> Identity:
    """The identity of a verified token in good standing, if it covers the route's ACLs."""
    acls = effective_acls(record.acls, owner.acls)
    if not grants(acls, required_acls):
        raise PermissionDeniedError(required_acls - acls)
    return Identity(
        user=record.user,
        realm=record.realm,
        token_name=record.name,
        acls=acls,
        token_id=record.id,
        expires_at=record.expires_at,
        readonly=record.readonly,
    )
