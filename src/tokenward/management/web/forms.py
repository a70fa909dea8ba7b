"""What the generate, edit and rotate forms send, turned into ``TokenService`` arguments.

Parsing only: every rule (name, ACLs, addresses, expiry, the caller's limits) is the
service's, so the page refuses exactly what the API and the CLI refuse.
"""

from __future__ import annotations

import dataclasses
import datetime

from tokenward.core.network import parse_allow_list
from tokenward.errors import ValidationError
from tokenward.management.text import end_of_day, format_time, parse_duration
from tokenward.management.views import KEEP, Keep, TokenView
from tokenward.management.web.plumbing import Fields

__all__ = [
    "CALLER_EXPIRY",
    "EXPIRY_CHOICES",
    "GRACE_CHOICES",
    "KEEP_EXPIRY",
    "TokenChanges",
    "TokenForm",
    "default_expiry",
    "expiry_choices",
    "field",
    "grace_seconds",
    "latest_date",
]

# (value, label). Presets count from now; a date means 23:59:59 server time that day.
EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("1y", "1 year"),
    ("date", "On a date…"),
    ("never", "Never"),
)
DEFAULT_EXPIRY = "1y"  # cPanel's UI default: one year ahead
KEEP_EXPIRY = "keep"
# The signed-in token's own expiry: a token can hand out none later than its own.
CALLER_EXPIRY = "caller"

GRACE_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "None: the old token stops working at once"),
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("24h", "1 day"),
    ("7d", "7 days"),
)


def _within(seconds: int, now: float, limit: int | None) -> bool:
    return limit is None or int(now) + seconds <= limit


def latest_date(limit: int) -> datetime.date:
    """The last day whose 23:59:59 (server time, as a date means) is not after ``limit``."""
    day = datetime.datetime.fromtimestamp(limit).date()
    return day if end_of_day(day.isoformat()) <= limit else day - datetime.timedelta(days=1)


def expiry_choices(now: float, limit: int | None) -> list[tuple[str, str]]:
    """The choices a token expiring at ``limit`` (``None``: never) can use: no preset that
    ends after it and no "never", which it would refuse; its own expiry instead."""
    if limit is None:
        return list(EXPIRY_CHOICES)
    presets = [
        (value, label)
        for value, label in EXPIRY_CHOICES
        if value not in ("date", "never") and _within(parse_duration(value), now, limit)
    ]
    mine = [(CALLER_EXPIRY, f"When your token expires ({format_time(limit)})")]
    today = datetime.datetime.fromtimestamp(now).date()
    dates = [(v, label) for v, label in EXPIRY_CHOICES if v == "date"]
    return presets + mine + (dates if latest_date(limit) >= today else [])


def default_expiry(now: float, limit: int | None) -> str:
    """cPanel's one year, or the caller's own expiry when that comes first."""
    return DEFAULT_EXPIRY if _within(parse_duration(DEFAULT_EXPIRY), now, limit) else CALLER_EXPIRY


def field(fields: Fields, name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


@dataclasses.dataclass(frozen=True, slots=True)
class TokenForm:
    """The generate/edit form as typed, kept verbatim so a refused form comes back as it
    was sent (never with a secret: the form has none)."""

    name: str = ""
    expiry: str = DEFAULT_EXPIRY
    expiry_date: str = ""
    ips_text: str = ""
    acls: tuple[str, ...] = ()
    readonly: bool = False

    @classmethod
    def from_fields(cls, fields: Fields) -> TokenForm:
        return cls(
            name=field(fields, "name").strip(),
            expiry=field(fields, "expiry") or DEFAULT_EXPIRY,
            expiry_date=field(fields, "expiry_date").strip(),
            ips_text=field(fields, "ips"),
            acls=tuple(dict.fromkeys(fields.get("acl", []))),
            readonly=field(fields, "readonly") == "1",
        )

    @classmethod
    def from_view(cls, view: TokenView) -> TokenForm:
        """The edit form of an existing token: expiry kept unless changed."""
        return cls(
            name=view.name,
            expiry=KEEP_EXPIRY,
            ips_text="\n".join(view.whitelist_ips),
            acls=tuple(sorted(view.acls)),
            readonly=view.readonly,
        )

    @property
    def ips(self) -> list[str]:
        """One entry per line; blank lines and surrounding spaces do not count."""
        return [line.strip() for line in self.ips_text.splitlines() if line.strip()]

    def expires_at(self, now: float, limit: int | None = None) -> int | Keep | None:
        """``limit`` is the signed-in token's expiry, which ``CALLER_EXPIRY`` means."""
        if self.expiry == KEEP_EXPIRY:
            return KEEP
        if self.expiry == CALLER_EXPIRY:
            return limit
        if self.expiry == "never":
            return None
        if self.expiry == "date":
            if not self.expiry_date:
                raise ValidationError("choose the date the token expires")
            return end_of_day(self.expiry_date)
        if self.expiry not in dict(EXPIRY_CHOICES):
            raise ValidationError(f"unknown expiry choice {self.expiry!r}")
        return int(now) + parse_duration(self.expiry)

    def changes(self, view: TokenView, now: float, limit: int | None = None) -> TokenChanges:
        """What differs from ``view``, and only that, so a narrow caller can still rename a
        token whose ACLs it could not grant."""
        expires_at = self.expires_at(now, limit)
        return TokenChanges(
            new_name=self.name if self.name != view.name else None,
            acls=list(self.acls) if frozenset(self.acls) != view.acls else KEEP,
            whitelist_ips=(self.ips if parse_allow_list(self.ips) != view.whitelist_ips else KEEP),
            expires_at=KEEP if expires_at == view.expires_at else expires_at,
            readonly=KEEP if self.readonly == view.readonly else self.readonly,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TokenChanges:
    """``TokenService.update`` arguments: ``KEEP`` (and no new name) leaves a field alone."""

    new_name: str | None = None
    expires_at: int | Keep | None = KEEP
    acls: list[str] | Keep = KEEP
    whitelist_ips: list[str] | Keep = KEEP
    readonly: bool | Keep = KEEP

    @property
    def empty(self) -> bool:
        return self == TokenChanges()


def grace_seconds(text: str) -> float | None:
    if not text:
        return None
    if text not in dict(GRACE_CHOICES):
        raise ValidationError(f"unknown grace period {text!r}")
    return float(parse_duration(text))
