"""What the service hands back: a listing shows everything an operator needs and never a
secret; a created token carries its secret once."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping

from tokenward.core.acl import ALL, WHM_ACLS, dangerous_in, did_you_mean
from tokenward.core.tokens import Realm, TokenRecord, TokenStatus, is_within_expiry
from tokenward.stores.base import day_of

__all__ = ["KEEP", "CreatedToken", "Keep", "TokenView", "acl_warnings"]


class Keep(enum.Enum):
    """``update``'s "leave this field alone", distinct from ``None`` (never / any)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedToken:
    """The one moment the secret exists outside the client: print it, then drop it."""

    record: TokenRecord
    secret: str = dataclasses.field(repr=False)
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenView:
    """A read model of one token at one moment (``status`` depends on the time).

    Built from a record by copying only what may be shown, so adding a secret-bearing field
    to ``TokenRecord`` can never leak through a listing. ``requests_today`` and
    ``requests_last_7_days`` (UTC days, today included) are ``None`` when the counts were
    not read: ``from_record`` of a used token without ``counts``. Every view the service
    hands out (``list_tokens``, ``show``, ``view``) has them read, the same way.
    """

    name: str
    user: str
    realm: Realm
    create_time: int
    expires_at: int | None
    last_used_at: int | None
    last_used_ip: str | None
    whitelist_ips: tuple[str, ...]
    acls: frozenset[str]
    status: TokenStatus
    previous_secret_until: int | None = None
    readonly: bool = False
    revoked_at: int | None = None
    revoked_reason: str | None = None
    requests_today: int | None = None
    requests_last_7_days: int | None = None

    @property
    def status_text(self) -> str:
        """The status as listings print it: ``revoked: reported leaked`` says why."""
        if self.status is TokenStatus.REVOKED and self.revoked_reason:
            return f"{self.status.value}: {self.revoked_reason}"
        return self.status.value

    @classmethod
    def from_record(
        cls, record: TokenRecord, now: float, counts: Mapping[int, int] | None = None
    ) -> TokenView:
        """``counts``: the token's requests per UTC day (``TokenStore.usage_counts``)."""
        today = day_of(now)
        if counts is None and record.last_used_at is None:
            counts = {}  # counts are written with the last use: a token never used has none
        previous_until = record.previous_until if record.previous_digest is not None else None
        if previous_until is not None and not is_within_expiry(previous_until, now):
            previous_until = None  # the grace period is over: nothing left to mention
        return cls(
            name=record.name,
            user=record.user,
            realm=record.realm,
            create_time=record.created_at,
            expires_at=record.expires_at,
            last_used_at=record.last_used_at,
            last_used_ip=record.last_used_ip,
            whitelist_ips=record.whitelist_ips,
            acls=record.acls,
            status=record.status(now),
            previous_secret_until=previous_until,
            readonly=record.readonly,
            revoked_at=record.revoked_at,
            revoked_reason=record.revoked_reason,
            requests_today=None if counts is None else counts.get(today, 0),
            requests_last_7_days=(
                None
                if counts is None
                else sum(n for day, n in counts.items() if today - 7 < day <= today)
            ),
        )

    def to_json(self) -> dict[str, object]:
        """The CLI's and the API's JSON shape (its keys are a contract: docs/managing.md)."""
        return {
            "name": self.name,
            "user": self.user,
            "realm": self.realm.value,
            "create_time": self.create_time,
            "expires_at": self.expires_at,
            "acls": sorted(self.acls),
            "whitelist_ips": list(self.whitelist_ips),
            "last_used_at": self.last_used_at,
            "last_used_ip": self.last_used_ip,
            "status": self.status.value,
            "previous_secret_until": self.previous_secret_until,
            "readonly": self.readonly,
            "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
            "requests_today": self.requests_today,
            "requests_last_7_days": self.requests_last_7_days,
        }


def acl_warnings(acls: Iterable[str], vocabulary: frozenset[str] | None = None) -> tuple[str, ...]:
    """Warnings, which never block: ACLs that let a token escape its own limits, and, when
    no vocabulary is configured (the CLI), names outside WHM's chart, with a did-you-mean
    (a configured vocabulary refuses unknown names instead)."""
    acls = sorted(acls)
    dangerous = [f"ACL {acl!r}: {why}" for acl, why in dangerous_in(acls).items()]
    if vocabulary is not None:
        return tuple(dangerous)
    known = WHM_ACLS | {ALL}
    unknown = [
        f"ACL {acl!r} is not one of WHM's{did_you_mean(acl, known)}: no route asks for it "
        "unless your application does"
        for acl in acls
        if acl not in known
    ]
    return tuple(dangerous + unknown)
