"""The store protocol every backend implements, and the shapes it exchanges.

Every method but two is abstract: a store that forgets one cannot be instantiated, rather
than quietly pretending to revoke. The optional ones default to something safe and honest:
``replace_verifier`` replaces nothing (no upgrade; it returns ``False``), and ``migrate``
refuses with a ``StoreError`` (it never reports a schema it did not make). Drivers' own
exceptions never escape a store; they become ``StoreError`` raised ``from`` the original.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Sequence

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import StoreError

__all__ = ["USAGE_DAYS", "TokenStore", "Usage", "day_of"]

# How many UTC days of per-token request counts a store keeps (today included); older days
# are pruned when counts are written.
USAGE_DAYS = 90


def day_of(at: float) -> int:
    """The UTC day number of a Unix time: the unit per-token request counts are kept in."""
    return int(at) // 86_400


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """The latest successful use of a token, as batched by the authenticator, with the
    requests it made since the last batch: ``counts`` is ``((day, requests), …)`` by UTC day
    number (``day_of``), so a batch that spans midnight credits each day with its own."""

    token_id: str
    at: int
    ip: str | None
    counts: tuple[tuple[int, int], ...] = ()


class TokenStore(abc.ABC):
    """Where token records live. ``get`` is the request path: one indexed read, no write."""

    @abc.abstractmethod
    def get(self, digest: str) -> TokenRecord | None:
        """The record whose current *or previous* (rotated) digest is ``digest``."""

    async def aget(self, digest: str) -> TokenRecord | None:
        """Async ``get``. In-process stores answer in microseconds, so this calls ``get``;
        network stores override it with their driver's async client."""
        return self.get(digest)

    async def aclose(self) -> None:  # noqa: B027 - in-process stores hold nothing to release
        """Release what ``aget`` opened on the running event loop (ASGI lifespan shutdown).
        In-process stores open nothing, so there is nothing to release."""

    @abc.abstractmethod
    def add(self, record: TokenRecord) -> None:
        """Insert; ``DuplicateTokenError`` when (realm, user, name) or a digest is taken."""

    @abc.abstractmethod
    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None: ...

    @abc.abstractmethod
    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        """Records sorted by realm, user and name."""

    @abc.abstractmethod
    def save(self, record: TokenRecord) -> None:
        """Replace the record with the same id (rename, edit, rotate).

        ``TokenNotFoundError`` when it no longer exists; ``DuplicateTokenError`` on a name
        clash. Last-used fields are the store's own and are not overwritten by ``save``.
        """

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        """Compare-and-set for the lazy argon2 upgrade: the token whose *current* digest is
        ``digest`` gets verifier ``new`` if its verifier is still ``old``. True if replaced.

        Nothing else changes, and a token rotated, edited or revoked meanwhile is left as it
        is. A store that cannot compare-and-set keeps this default, which replaces nothing:
        its tokens keep verifying with the parameters they were made with.
        """
        return False

    @abc.abstractmethod
    def delete(self, token_ids: Iterable[str]) -> int:
        """Remove tokens by id; unknown ids are ignored. Returns how many went."""

    @abc.abstractmethod
    def delete_user(self, realm: Realm, user: str) -> int:
        """Remove every token of one user in one step (account deleted, revoke-all)."""

    @abc.abstractmethod
    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        """Move every token of ``old`` to ``new``; the secrets keep working."""

    @abc.abstractmethod
    def record_usage(self, usages: Sequence[Usage]) -> None:
        """Batch of last-used updates and request counts, in one write (one transaction,
        script or lock). Only ever moves ``last_used_at`` forward, so that workers flushing
        in any order converge on the latest use; ``counts`` are *added* to the day's total,
        so workers flushing at once add up. Days older than ``USAGE_DAYS`` before the
        batch's latest are pruned. Unknown token ids are ignored."""

    @abc.abstractmethod
    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        """Requests per UTC day (``day_of``) from ``since_day`` on, for each of ``token_ids``
        that has any; a token without counts in that span is absent. Deleting a token
        deletes its counts."""

    def migrate(self) -> str:
        """Create the store's schema (tables, key layout), or upgrade it to the version this
        code uses; ``tokenward migrate`` and Django's ``migrate`` call it.

        Idempotent: run again, or from several hosts at once, it changes nothing and loses
        no token. A schema newer than this code is a ``StoreError``. Returns one line for the
        operator saying what was done, such as ``"created schema version 1"``, ``"schema
        version 1 is up to date"`` or ``"nothing to do: …"``.

        The default refuses: a store that does not say how it makes its schema must not be
        reported as migrated. The conformance suite calls it, so a store that keeps this
        default fails the suite.
        """
        raise StoreError(
            f"{type(self).__name__} does not implement migrate(): it cannot create or "
            "upgrade its schema"
        )

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and files. Called once, when the owner is done with it."""
