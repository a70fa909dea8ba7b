"""A store in a dict: for tests, demos and single-process apps that mint tokens at start-up."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import DuplicateTokenError, TokenNotFoundError
from tokenward.stores.base import USAGE_DAYS, TokenStore, Usage

__all__ = ["MemoryStore"]

_Key = tuple[Realm, str, str]


def _key(record: TokenRecord) -> _Key:
    return (record.realm, record.user, record.name)


class MemoryStore(TokenStore):
    def __init__(self) -> None:
        self._records: dict[str, TokenRecord] = {}
        self._by_digest: dict[str, str] = {}
        self._by_name: dict[_Key, str] = {}
        self._counts: dict[str, dict[int, int]] = {}  # token id -> UTC day -> requests
        self._kept_from = 0  # the oldest day kept: pruning runs once per new day
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._records)} tokens)"

    def get(self, digest: str) -> TokenRecord | None:
        token_id = self._by_digest.get(digest)
        return None if token_id is None else self._records.get(token_id)

    def add(self, record: TokenRecord) -> None:
        with self._lock:
            if record.id in self._records:
                raise DuplicateTokenError("a token with that id already exists")
            self._check_free(record)
            self._put(record)

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        token_id = self._by_name.get((realm, user, name))
        return None if token_id is None else self._records.get(token_id)

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        found = [
            r
            for r in self._records.values()
            if (realm is None or r.realm == realm) and (user is None or r.user == user)
        ]
        return sorted(found, key=_key)

    def save(self, record: TokenRecord) -> None:
        with self._lock:
            old = self._records.get(record.id)
            if old is None:
                raise TokenNotFoundError(f"token {record.name!r} no longer exists")
            self._check_free(record)
            self._drop(old)
            self._put(record.replace(last_used_at=old.last_used_at, last_used_ip=old.last_used_ip))

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        with self._lock:
            found = self.get(digest)
            if found is None or found.digest != digest or found.verifier != old:
                return False
            self._records[found.id] = found.replace(verifier=new)
            return True

    def delete(self, token_ids: Iterable[str]) -> int:
        with self._lock:
            removed = 0
            for token_id in token_ids:
                record = self._records.get(token_id)
                if record is not None:
                    self._drop(record)
                    self._counts.pop(token_id, None)
                    removed += 1
            return removed

    def delete_user(self, realm: Realm, user: str) -> int:
        with self._lock:
            doomed = [r for r in self._records.values() if (r.realm, r.user) == (realm, user)]
            for record in doomed:
                self._drop(record)
                self._counts.pop(record.id, None)
            return len(doomed)

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        with self._lock:
            moving = [r for r in self._records.values() if (r.realm, r.user) == (realm, old)]
            if any((realm, new, r.name) in self._by_name for r in moving):
                raise DuplicateTokenError(f"{new} already has a token with one of those names")
            for record in moving:
                self._drop(record)
                self._put(record.replace(user=new))
            return len(moving)

    def record_usage(self, usages: Sequence[Usage]) -> None:
        if not usages:
            return
        oldest = max(usage.at for usage in usages) // 86_400 - USAGE_DAYS + 1
        with self._lock:
            for usage in usages:
                record = self._records.get(usage.token_id)
                if record is None:
                    continue
                if (record.last_used_at or 0) <= usage.at:
                    self._records[usage.token_id] = record.replace(
                        last_used_at=usage.at, last_used_ip=usage.ip
                    )
                days = self._counts.setdefault(usage.token_id, {})
                for day, requests in usage.counts:
                    days[day] = days.get(day, 0) + requests
            if oldest > self._kept_from:
                self._kept_from = oldest
                for days in self._counts.values():
                    for day in [d for d in days if d < oldest]:
                        del days[day]

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        with self._lock:
            for token_id in token_ids:
                days = self._counts.get(token_id, {})
                if kept := {day: n for day, n in days.items() if day >= since_day}:
                    found[token_id] = kept
        return found

    def migrate(self) -> str:
        """A dict has no schema: there is never anything to create or upgrade."""
        return "nothing to do: a memory store has no schema"

    def close(self) -> None:
        """Nothing to release; the records stay readable."""

    def _check_free(self, record: TokenRecord) -> None:
        if self._by_name.get(_key(record), record.id) != record.id:
            raise DuplicateTokenError(f"a token named {record.name!r} already exists")
        for digest in (record.digest, record.previous_digest):
            if digest is not None and self._by_digest.get(digest, record.id) != record.id:
                raise DuplicateTokenError("digest collision")

    def _put(self, record: TokenRecord) -> None:
        self._records[record.id] = record
        self._by_name[_key(record)] = record.id
        self._by_digest[record.digest] = record.id
        if record.previous_digest is not None:
            self._by_digest[record.previous_digest] = record.id

    def _drop(self, record: TokenRecord) -> None:
        """Forget the record and its indexes (its counts go with ``delete``, not a save)."""
        del self._records[record.id]
        self._by_name.pop(_key(record), None)
        self._by_digest.pop(record.digest, None)
        if record.previous_digest is not None:
            self._by_digest.pop(record.previous_digest, None)
