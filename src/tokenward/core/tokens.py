"""Token secrets, names, records and identities: plain data, no I/O, no clock."""

from __future__ import annotations

import dataclasses
import enum
import re
import secrets
from collections.abc import Iterable

from tokenward.core.acl import grants
from tokenward.errors import ValidationError

__all__ = [
    "MAX_NAME_LENGTH",
    "SAFE_METHODS",
    "SECRET_ALPHABET",
    "SECRET_LENGTH",
    "SECRET_PATTERN",
    "Identity",
    "Realm",
    "TokenRecord",
    "TokenStatus",
    "generate_secret",
    "is_well_formed_secret",
    "is_within_expiry",
    "token_status",
    "validate_name",
]

SECRET_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SECRET_LENGTH = 32  # 32 * log2(36) ≈ 165 bits of entropy, cPanel's shape
MAX_NAME_LENGTH = 50
EXPIRING_WINDOW = 24 * 3600

SECRET_PATTERN = rf"[0-9A-Z]{{{SECRET_LENGTH}}}"
_SECRET_RE = re.compile(SECRET_PATTERN)
_NAME_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}")
# What a read-only token may send: the methods that change nothing (RFC 9110 §9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class Realm(enum.StrEnum):
    """Separate token namespaces: a token of one realm never authenticates in the other."""

    CPANEL = "cpanel"
    WHM = "whm"

    @classmethod
    def parse(cls, value: str | Realm) -> Realm:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValidationError(f"unknown realm {value!r}: expected cpanel or whm") from None


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"  # kept on record, marked (reported leaked), refused whatever its expiry


def generate_secret() -> str:
    """A new secret in cPanel's format, from the operating system's CSPRNG."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


def is_well_formed_secret(value: str) -> bool:
    """Cheap shape check that lets garbage be refused before any store read."""
    return _SECRET_RE.fullmatch(value) is not None


def validate_name(name: str) -> str:
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise ValidationError(
            f"invalid token name {name!r}: use 1-{MAX_NAME_LENGTH} of A-Z a-z 0-9 _ -"
        )
    return name


def is_within_expiry(expires_at: int | None, now: float) -> bool:
    """A token with ``expires_at = E`` is valid through the whole second E."""
    return expires_at is None or int(now) <= expires_at


def token_status(expires_at: int | None, now: float, revoked_at: int | None = None) -> TokenStatus:
    """Revoked outranks everything: a revoked token never works again, expired or not."""
    if revoked_at is not None:
        return TokenStatus.REVOKED
    if not is_within_expiry(expires_at, now):
        return TokenStatus.EXPIRED
    if expires_at is not None and expires_at - int(now) < EXPIRING_WINDOW:
        return TokenStatus.EXPIRING
    return TokenStatus.ACTIVE


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """What a store keeps for one token. It holds digests and verifiers, never the secret.

    ``previous_*`` describe the secret a rotation replaced; it keeps working until
    ``previous_until`` (the grace period), then stops. A ``readonly`` token is refused (403)
    any method but ``SAFE_METHODS``, whatever its ACLs (cPanel's ``readonly=1``).

    A token revoked in place (``revoked_at`` set, e.g. reported leaked) is kept so its owner
    sees what happened, and refused on every request; it cannot be edited or rotated, only
    deleted. Revoking by name deletes the record instead.
    """

    id: str
    realm: Realm
    user: str
    name: str
    digest: str
    verifier: str = dataclasses.field(repr=False)
    created_at: int
    expires_at: int | None = None
    acls: frozenset[str] = frozenset({"all"})
    whitelist_ips: tuple[str, ...] = ()
    last_used_at: int | None = None
    last_used_ip: str | None = None
    previous_digest: str | None = None
    previous_verifier: str | None = dataclasses.field(default=None, repr=False)
    previous_until: int | None = None
    readonly: bool = False
    revoked_at: int | None = None
    revoked_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def status(self, now: float) -> TokenStatus:
        return token_status(self.expires_at, now, self.revoked_at)

    def replace(self, **changes: object) -> TokenRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who a request authenticated as. Placed at ``environ``/``scope["tokenward.identity"]``."""

    user: str
    realm: Realm
    token_name: str
    acls: frozenset[str]
    token_id: str = ""
    expires_at: int | None = None
    readonly: bool = False

    def has_acls(self, required: Iterable[str]) -> bool:
        return grants(self.acls, required)

    def as_dict(self) -> dict[str, object]:
        return {
            "user": self.user,
            "realm": self.realm.value,
            "token_name": self.token_name,
            "acls": sorted(self.acls),
            "readonly": self.readonly,
        }
