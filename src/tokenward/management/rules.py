"""The rules a change must pass before anything is written: user names, expiry, the owner's
standing and ACLs, and delegation (a token never hands out more than it holds).

Pure functions of values, so the CLI, the HTTP API and the tests meet the same refusals.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import math
import re
from collections.abc import Iterable

from tokenward.core.acl import ALL, effective_acls
from tokenward.core.header import MAX_USER_LENGTH
from tokenward.core.network import Network, parse_networks
from tokenward.core.policy import Owner
from tokenward.core.tokens import Identity, Realm, TokenRecord, is_within_expiry
from tokenward.errors import ValidationError

__all__ = [
    "MAX_EPOCH",
    "CallerLimits",
    "caller_limits",
    "check_may_mint",
    "check_owner_acls",
    "grace_end",
    "secret_end",
    "span",
    "strings",
    "utc_time",
    "validate_expiry",
    "validate_user",
]

MAX_EPOCH = 253_402_300_799  # 9999-12-31 23:59:59 UTC: beyond it, stores and clients disagree

# The header grammar's user: printable ASCII without space or ':'. A user name outside it
# could own tokens that no request can ever present.
_USER_RE = re.compile(rf"[\x21-\x39\x3b-\x7e]{{1,{MAX_USER_LENGTH}}}")


def validate_user(user: str) -> str:
    if not isinstance(user, str) or _USER_RE.fullmatch(user) is None:
        raise ValidationError(
            f"invalid user name {user!r}: use 1-{MAX_USER_LENGTH} printable ASCII characters "
            "without spaces or ':'"
        )
    return user


def validate_expiry(expires_at: int | None, now: float) -> int | None:
    """``None`` is never; otherwise a future epoch second (the token is valid through it)."""
    if expires_at is None:
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int):
        raise ValidationError(f"expiry must be an epoch second, not {expires_at!r}")
    if expires_at <= int(now):
        raise ValidationError(f"expiry must be in the future, not {utc_time(expires_at)}")
    if expires_at > MAX_EPOCH:
        raise ValidationError("expiry is after the year 9999")
    return expires_at


def grace_end(
    grace: float | None, expires_at: int | None, now: float
) -> tuple[int | None, str | None]:
    """When a rotated-out secret stops working: the one rule for every way to rotate (the
    Python API, the CLI, both HTTP APIs, the web page), applied by ``TokenService.rotate``.

    ``grace`` seconds from ``now`` (``None`` or 0: the old secret stops at once, and the
    answer is ``None``), but never after the token's own expiry: a rotated-out secret must
    not outlive its token. A longer grace is cut to the token's remaining life rather than
    refused, so a scheduled rotation still runs; the second value is then the warning that
    says so (``None`` when the grace is kept). Refused (``ValidationError``): a negative or
    non-finite grace, or one that would end after the year 9999.
    """
    if grace is None:
        return None, None
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not math.isfinite(grace):
        raise ValidationError(f"grace must be a number of seconds, not {grace!r}")
    if grace < 0:
        raise ValidationError("grace must not be negative")
    if now + grace > MAX_EPOCH:
        raise ValidationError("grace period ends after the year 9999")
    if not grace:
        return None, None
    until = int(now + grace)
    if expires_at is None or until <= expires_at:
        return until, None
    return expires_at, (
        f"the token expires {utc_time(expires_at)}, before a grace period of {span(grace)} "
        "would end: the old secret works until then, as the new one does"
    )


def secret_end(until: int | None, expires_at: int | None) -> int | None:
    """``until``, when a rotated-out secret stops working, but no later than its token's
    expiry ``expires_at``: ``grace_end`` when a token is rotated, ``TokenService.update``
    when its expiry is brought forward (so that extending it again later cannot revive an
    old secret the token did not live long enough to keep)."""
    if until is None or expires_at is None:
        return until
    return min(until, expires_at)


def span(seconds: float) -> str:
    """``7 days``, ``90 minutes``: a duration in the largest unit that divides it."""
    if seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
            if whole and whole % size == 0:
                count = whole // size
                return f"{count} {unit}{'' if count == 1 else 's'}"
        return f"{whole} second{'' if whole == 1 else 's'}"
    return f"{seconds:g} seconds"


def utc_time(epoch: int) -> str:
    """An epoch second as a person reads it in a message, in one zone for every reader:
    ``2026-12-03 23:59:59 UTC``."""
    try:
        moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    except (ValueError, OverflowError, OSError):
        return str(epoch)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def strings(values: Iterable[str], what: str) -> list[str]:
    """A list of strings from an iterable, refusing one bare string: iterating ``"10.0.0.1"``
    would silently yield the one-character entries ``"1"`` and ``"0"``."""
    if isinstance(values, str):
        raise ValidationError(f"{what} must be a list of strings, not one string")
    return [str(value) for value in values]


def check_may_mint(owner: Owner | None, realm: Realm, user: str) -> Owner:
    """A new secret (create, rotate) needs a known, active owner."""
    if owner is None:
        raise ValidationError(f"unknown {realm.value} user {user!r}")
    if not owner.active:
        raise ValidationError(f"{realm.value} user {user!r} is suspended and cannot get tokens")
    return owner


def check_owner_acls(owner: Owner | None, acls: frozenset[str], user: str) -> None:
    """A token cannot hold an ACL its owner lacks (``all`` means all the owner has)."""
    if owner is None or owner.acls is None or ALL in owner.acls:
        return
    lacking = sorted(acls - owner.acls - {ALL})
    if lacking:
        raise ValidationError(
            f"{user!r} does not have ACL(s) {', '.join(lacking)}, so their tokens cannot either"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CallerLimits:
    """What a token managing its owner's tokens may hand out: no ACL it does not hold, no
    address outside its allow-list, no expiry after its own, and, from a read-only token,
    only read-only tokens. Otherwise a narrow token with ``manage-api-tokens`` could mint
    itself a broad one.

    ``all`` is granted only by a caller whose own token carries ``all``: a token with ``all``
    gains whatever its owner gains later, and would outgrow a caller with a fixed list."""

    label: str
    acls: frozenset[str]  # effective: already intersected with the owner's
    networks: tuple[Network, ...]  # empty: any address
    expires_at: int | None
    holds_all: bool = False  # the caller's own token carries ``all`` (and grows with its owner)
    readonly: bool = False  # the caller is read-only: what it manages must be too

    def check_acls(self, acls: frozenset[str], owner: Owner) -> None:
        granted = effective_acls(acls, owner.acls)
        if ALL in self.acls:
            return
        beyond = sorted(granted - self.acls)
        if ALL in acls and not self.holds_all:
            beyond = [ALL, *beyond]
        if beyond:
            raise ValidationError(
                f"the calling token ({self.label}) cannot grant ACL(s) it does not hold: "
                + ", ".join(beyond)
            )

    def check_ips(self, ips: tuple[str, ...]) -> None:
        if not self.networks:
            return
        if not ips:
            raise ValidationError(
                f"the calling token ({self.label}) is limited to certain addresses, so the "
                "token it manages must be too (an empty allow-list means any address)"
            )
        for entry, network in zip(ips, parse_networks(ips), strict=True):
            if not any(_inside(network, mine) for mine in self.networks):
                raise ValidationError(
                    f"allow-list entry {entry} is outside the calling token's ({self.label}) "
                    "own allow-list"
                )

    def check_expiry(self, expires_at: int | None) -> None:
        if self.expires_at is None:
            return
        if expires_at is None or expires_at > self.expires_at:
            asked = "never" if expires_at is None else utc_time(expires_at)
            raise ValidationError(
                f"the calling token ({self.label}) expires {utc_time(self.expires_at)}: the "
                f"token it manages must expire no later (asked for: {asked})"
            )

    def check_readonly(self, readonly: bool) -> None:
        if self.readonly and not readonly:
            raise ValidationError(
                f"the calling token ({self.label}) is read-only: the token it manages must be "
                "read-only too"
            )

    def check_token(self, record: TokenRecord, owner: Owner) -> None:
        """The whole token, for rotation: its new secret is worth everything it grants."""
        self.check_acls(record.acls, owner)
        self.check_ips(record.whitelist_ips)
        self.check_expiry(record.expires_at)
        self.check_readonly(record.readonly)

    def check_may_edit(self, record: TokenRecord, owner: Owner) -> None:
        """Changing a token's ACLs, allow-list or expiry needs the token, as it stands, to be
        within the caller's limits: a narrow token may rename or revoke a broader one (as
        cPanel lets it) but not rewrite its limits, which would be sabotage."""
        try:
            self.check_token(record, owner)
        except ValidationError as exc:
            raise ValidationError(
                f"the calling token ({self.label}) may rename or revoke token {record.name!r} "
                f"but not change its ACLs, allow-list or expiry, because that token reaches "
                f"beyond the caller: {exc}"
            ) from None


def caller_limits(
    actor: Identity, record: TokenRecord | None, owner: Owner | None, label: str, now: float
) -> CallerLimits:
    """The limits of the token acting, from its *stored* record and its owner's current
    standing: it may have been narrowed or revoked since it authenticated."""
    if record is None or (actor.token_id and record.id != actor.token_id):
        raise ValidationError(f"the calling token ({label}) no longer exists")
    if not is_within_expiry(record.expires_at, now):
        raise ValidationError(f"the calling token ({label}) has expired")
    if owner is None or not owner.active:
        raise ValidationError(f"the calling token's owner ({actor.user!r}) is not active")
    everything = effective_acls(record.acls, owner.acls)
    held = effective_acls(everything, actor.acls)
    holds_all = ALL in record.acls and held == everything  # not narrowed by the identity
    networks = parse_networks(record.whitelist_ips)
    readonly = record.readonly or actor.readonly
    return CallerLimits(label, held, networks, record.expires_at, holds_all, readonly)


def _inside(network: Network, container: Network) -> bool:
    if isinstance(network, ipaddress.IPv4Network) and isinstance(container, ipaddress.IPv4Network):
        return network.subnet_of(container)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(container, ipaddress.IPv6Network):
        return network.subnet_of(container)
    return False
