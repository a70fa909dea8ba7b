"""What the generate, edit and rotate forms send, turned into ``TokenService`` arguments.

Parsing only: every rule (name, ACLs, addresses, expiry, the caller's limits) is the
service's, so the page refuses exactly what the API and the CLI refuse.
"""

from __future__ import annotations

import dataclasses

from tokenward.core.network import parse_allow_list
from tokenward.errors import ValidationError
from tokenward.management.text import end_of_day, parse_duration
from tokenward.management.views import KEEP, Keep, TokenView
from tokenward.management.web.plumbing import Fields

__all__ = [
    "EXPIRY_CHOICES",
    "GRACE_CHOICES",
    "KEEP_EXPIRY",
    "TokenChanges",
    "TokenForm",
    "field",
    "grace_seconds",
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

GRACE_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "None: the old token stops working at once"),
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("24h", "1 day"),
    ("7d", "7 days"),
)


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

    @classmethod
    def from_fields(cls, fields: Fields) -> TokenForm:
        return cls(
            name=field(fields, "name").strip(),
            expiry=field(fields, "expiry") or DEFAULT_EXPIRY,
            expiry_date=field(fields, "expiry_date").strip(),
            ips_text=field(fields, "ips"),
            acls=tuple(dict.fromkeys(fields.get("acl", []))),
        )

    @classmethod
    def from_view(cls, view: TokenView) -> TokenForm:
        """The edit form of an existing token: expiry kept unless changed."""
        return cls(
            name=view.name,
            expiry=KEEP_EXPIRY,
            ips_text="\n".join(view.whitelist_ips),
            acls=tuple(sorted(view.acls)),
        )

    @property
    def ips(self) -> list[str]:
        """One entry per line; blank lines and surrounding spaces do not count."""
        return [line.strip() for line in self.ips_text.splitlines() if line.strip()]

    def expires_at(self, now: float) -> int | Keep | None:
        if self.expiry == KEEP_EXPIRY:
            return KEEP
        if self.expiry == "never":
            return None
        if self.expiry == "date":
            if not self.expiry_date:
                raise ValidationError("choose the date the token expires")
            return end_of_day(self.expiry_date)
        if self.expiry not in dict(EXPIRY_CHOICES):
            raise ValidationError(f"unknown expiry choice {self.expiry!r}")
        return int(now) + parse_duration(self.expiry)

    def changes(self, view: TokenView, now: float) -> TokenChanges:
        """What differs from ``view``, and only that, so a narrow caller can still rename a
        token whose ACLs it could not grant."""
        expires_at = self.expires_at(now)
        return TokenChanges(
            new_name=self.name if self.name != view.name else None,
            acls=list(self.acls) if frozenset(self.acls) != view.acls else KEEP,
            whitelist_ips=(self.ips if parse_allow_list(self.ips) != view.whitelist_ips else KEEP),
            expires_at=KEEP if expires_at == view.expires_at else expires_at,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TokenChanges:
    """``TokenService.update`` arguments: ``KEEP`` (and no new name) leaves a field alone."""

    new_name: str | None = None
    expires_at: int | Keep | None = KEEP
    acls: list[str] | Keep = KEEP
    whitelist_ips: list[str] | Keep = KEEP

    @property
    def empty(self) -> bool:
        return self == TokenChanges()


def grace_seconds(text: str) -> float | None:
    if not text:
        return None
    if text not in dict(GRACE_CHOICES):
        raise ValidationError(f"unknown grace period {text!r}")
    return float(parse_duration(text))
