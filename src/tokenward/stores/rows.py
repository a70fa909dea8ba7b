"""A record as one SQL row and back, shared by the SQL stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tokenward.core.tokens import Realm, TokenRecord

__all__ = [
    "COLUMNS",
    "COLUMN_LIST",
    "SAVED_COLUMNS",
    "assignments",
    "from_row",
    "placeholders",
    "saved_values",
    "to_row",
]

# The column order of every row (the owner's column is ``username``: ``user`` is reserved in
# PostgreSQL). The last-used pair (positions 10 and 11) belongs to the store: ``save``
# never writes it.
COLUMNS = (
    "id",
    "realm",
    "username",
    "name",
    "digest",
    "verifier",
    "created_at",
    "expires_at",
    "acls",
    "whitelist_ips",
    "last_used_at",
    "last_used_ip",
    "previous_digest",
    "previous_verifier",
    "previous_until",
    "readonly",  # schema version 2
    "revoked_at",  # schema version 3, with revoked_reason and the usage table
    "revoked_reason",
)
SAVED_COLUMNS = COLUMNS[1:10] + COLUMNS[12:]


def to_row(r: TokenRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.realm.value,
        r.user,
        r.name,
        r.digest,
        r.verifier,
        r.created_at,
        r.expires_at,
        json.dumps(sorted(r.acls)),
        json.dumps(list(r.whitelist_ips)),
        r.last_used_at,
        r.last_used_ip,
        r.previous_digest,
        r.previous_verifier,
        r.previous_until,
        r.readonly,
        r.revoked_at,
        r.revoked_reason,
    )


def saved_values(r: TokenRecord) -> tuple[Any, ...]:
    """``to_row`` without the id and the last-used pair, in ``SAVED_COLUMNS`` order."""
    row = to_row(r)
    return (*row[1:10], *row[12:])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # PostgreSQL's JSONB is decoded


def from_row(row: Sequence[Any]) -> TokenRecord:
    (
        id_,
        realm,
        user,
        name,
        digest,
        verifier,
        created,
        expires,
        acls,
        ips,
        used_at,
        used_ip,
        prev_digest,
        prev_verifier,
        prev_until,
        readonly,
        revoked_at,
        revoked_reason,
    ) = row
    return TokenRecord(
        id=str(id_),
        realm=Realm(realm),
        user=str(user),
        name=str(name),
        digest=str(digest),
        verifier=str(verifier),
        created_at=int(created),
        expires_at=None if expires is None else int(expires),
        acls=frozenset(_json(acls)),
        whitelist_ips=tuple(_json(ips)),
        last_used_at=None if used_at is None else int(used_at),
        last_used_ip=None if used_ip is None else str(used_ip),
        previous_digest=prev_digest,
        previous_verifier=prev_verifier,
        previous_until=None if prev_until is None else int(prev_until),
        readonly=bool(readonly),
        revoked_at=None if revoked_at is None else int(revoked_at),
        revoked_reason=None if revoked_reason is None else str(revoked_reason),
    )


COLUMN_LIST = ", ".join(COLUMNS)


def placeholders(placeholder: str) -> str:
    """``?, ?, …``: one per column, for ``add``'s INSERT."""
    return ", ".join([placeholder] * len(COLUMNS))


def assignments(placeholder: str) -> str:
    """``realm = ?, username = ?, …`` for ``save``'s UPDATE."""
    return ", ".join(f"{c} = {placeholder}" for c in SAVED_COLUMNS)
