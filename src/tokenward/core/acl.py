"""ACL names, WHM's chart of them, and the rule for a token's effective privileges."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from tokenward.errors import ValidationError

__all__ = [
    "ALL",
    "DANGEROUS_ACLS",
    "METRICS",
    "WHM_ACLS",
    "WHM_ACL_GROUPS",
    "dangerous_in",
    "did_you_mean",
    "effective_acls",
    "grants",
    "normalize_acls",
]

ALL = "all"
METRICS = "metrics"  # reads tokenward's metrics (Prometheus' scrape): nothing else

# WHM's published ACL reference chart, abridged. Used as an optional
# vocabulary and to group checkboxes on the web page.
WHM_ACL_GROUPS: dict[str, tuple[str, ...]] = {
    "initial": (
        "acct-summary",
        "basic-system-info",
        "basic-whm-functions",
        "connected-applications",
        "cors-proxy-get",
        "cpanel-api",
        "cpanel-integration",
        "create-user-session",
        "digest-auth",
        "generate-email-config",
        "list-pkgs",
        "manage-api-tokens",
        "manage-dns-records",
        "manage-oidc",
        "manage-styles",
        "mysql-info",
        "ns-config",
        "public-contact",
        "ssl-info",
        "track-email",
    ),
    "standard": (
        "list-accts",
        "show-bandwidth",
        "create-acct",
        "kill-acct",
        "suspend-acct",
        "upgrade-account",
        "ssl",
        "ssl-buy",
        "ssl-gencrt",
        "edit-mx",
        "passwd",
        "file-restore",
        "create-dns",
        "kill-dns",
        "park-dns",
        "edit-dns",
        "add-pkg",
        "edit-pkg",
        "thirdparty",
        "mailcheck",
        "news",
    ),
    "global": (
        "status",
        "stats",
        "restart",
        "resftp",
        "edit-account",
        "limit-bandwidth",
        "quota",
        "demo-setup",
        "rearrange-accts",
        "clustering",
        "locale-edit",
    ),
    # tokenward's own: what its endpoints ask for (``/metrics`` of ``tokenward serve``).
    "tokenward": (METRICS,),
    "everything": (ALL,),
}
# Every name in the chart but ``all``: what the management API knows when no vocabulary is
# configured. An application adds its own names with ``acl_vocabulary=WHM_ACLS | {...}``.
WHM_ACLS: frozenset[str] = frozenset(
    acl for group in WHM_ACL_GROUPS.values() for acl in group if acl != ALL
)

# ACLs that let a token escape its own limits or act as its owner; the UI warns on them.
DANGEROUS_ACLS: dict[str, str] = {
    ALL: "complete access to everything the owner can do",
    "passwd": "can change passwords and log in as the account",
    "create-user-session": "can open a session as a user, bypassing the token's limits",
    "manage-api-tokens": "can mint and edit tokens",
    "cpanel-api": "can call cPanel APIs as any account, bypassing the token's limits",
}

_ACL_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def normalize_acls(acls: Iterable[str], vocabulary: frozenset[str] | None = None) -> frozenset[str]:
    """Validate ACL names and, when a vocabulary is given, that each is in it or is ``all``
    (the vocabulary is the whole list of known names: it replaces WHM's chart, it does not
    extend it). An unknown name is refused with the closest known one, if any."""
    result = frozenset(str(acl).strip() for acl in acls)
    for acl in sorted(result):
        if _ACL_RE.fullmatch(acl) is None:
            raise ValidationError(f"invalid ACL name {acl!r}")
        if vocabulary is not None and acl != ALL and acl not in vocabulary:
            raise ValidationError(f"unknown ACL {acl!r}{did_you_mean(acl, {*vocabulary, ALL})}")
    if not result:
        raise ValidationError("a token needs at least one ACL (use 'all' for full access)")
    return result


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'edit-dns'?)`` for the closest of ``known``, or ``""`` when none is
    close: a typo gets its fix, a name from elsewhere gets no misleading guess."""
    found = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean {found[0]!r}?)" if found else ""


def dangerous_in(acls: Iterable[str]) -> dict[str, str]:
    return {acl: DANGEROUS_ACLS[acl] for acl in sorted(acls) if acl in DANGEROUS_ACLS}


def effective_acls(token_acls: frozenset[str], owner_acls: frozenset[str] | None) -> frozenset[str]:
    """The token's ACLs intersected with its owner's *current* ones.

    ``owner_acls=None`` means the owner is unrestricted. ``all`` on either side stands for
    everything the other side has, so narrowing an owner narrows their tokens at once.
    """
    if owner_acls is None or ALL in owner_acls:
        return token_acls
    if ALL in token_acls:
        return owner_acls
    return token_acls & owner_acls


def grants(held: frozenset[str], required: Iterable[str]) -> bool:
    return ALL in held or held.issuperset(required)
