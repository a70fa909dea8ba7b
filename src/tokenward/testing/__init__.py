"""Helpers for tests: of tokenward itself and of the apps that use it.

Real tokens, minted into a real store with the cheapest argon2 profile, so tests exercise
the same code path as production without spending tens of milliseconds per token.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterable

from tokenward.core.crypto import Argon2Profile
from tokenward.core.header import format_authorization
from tokenward.core.settings import Settings
from tokenward.core.tokens import Realm
from tokenward.management.service import CreatedToken, TokenService
from tokenward.stores.base import TokenStore
from tokenward.stores.memory import MemoryStore

__all__ = [
    "FAST_ARGON2",
    "FrozenClock",
    "MintedToken",
    "TokenFactory",
    "empty",
    "fast_settings",
    "is_session_store_url",
    "session_store_url",
]

FAST_ARGON2 = Argon2Profile.cheapest()
_START = 1_800_000_000.0  # 2027-01-15, a fixed moment so tests never depend on today


class FrozenClock:
    """A clock that only moves when told to. Pass it wherever tokenward takes ``clock``."""

    def __init__(self, now: float = _START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = now


def fast_settings(**overrides: object) -> Settings:
    """``Settings`` with the test argon2 profile (production keeps the real default)."""
    values: dict[str, object] = {"argon2": FAST_ARGON2, **overrides}
    return Settings(**values)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, slots=True)
class MintedToken:
    created: CreatedToken

    @property
    def secret(self) -> str:
        return self.created.secret

    @property
    def header(self) -> str:
        """The ``Authorization`` header value for this token."""
        record = self.created.record
        return format_authorization(record.realm, record.user, self.created.secret)

    @property
    def headers(self) -> dict[str, str]:
        """For Flask's, Starlette's and Django's test clients, httpx and requests."""
        return {"Authorization": self.header}

    @property
    def environ(self) -> dict[str, str]:
        """For WebTest's ``extra_environ`` and Django's ``RequestFactory(**environ)``."""
        return {"HTTP_AUTHORIZATION": self.header}

    def __repr__(self) -> str:
        record = self.created.record
        return f"MintedToken({record.realm.value}:{record.user}/{record.name})"


class TokenFactory:
    """Mints real tokens: ``factory.mint(acls=["edit-dns"]).headers``."""

    def __init__(self, store: TokenStore | None = None, clock: FrozenClock | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.clock = clock or FrozenClock()
        self.service = TokenService(self.store, argon2=FAST_ARGON2, clock=self.clock)
        self._count = 0

    def mint(
        self,
        user: str = "alice",
        name: str | None = None,
        *,
        realm: Realm | str = Realm.CPANEL,
        acls: Iterable[str] = ("all",),
        whitelist_ips: Iterable[str] = (),
        expires_at: int | None = None,
        expires_in: float | None = None,
        readonly: bool = False,
    ) -> MintedToken:
        self._count += 1
        if expires_in is not None:
            expires_at = int(self.clock() + expires_in)
        created = self.service.create(
            user,
            # Unique across factories: a store kept between tests never sees a name twice.
            name or f"token-{self._count}-{secrets.token_hex(4)}",
            realm=realm,
            acls=acls,
            whitelist_ips=whitelist_ips,
            expires_at=expires_at,
            readonly=readonly,
        )
        return MintedToken(created)


def session_store_url(directory: str | os.PathLike[str]) -> str:
    """A throwaway SQLite store in ``directory`` for a test session. Apps built from
    ``$TOKENWARD_STORE`` and the test's ``TokenFactory`` meet in it through the same door a
    deployment uses, and its ``tokenward_upgrade=off`` option tells every guard not to
    re-hash its tokens: they are weak on purpose, and a background write must not race the
    test's own checks."""
    return f"sqlite:///{os.path.abspath(directory)}/{_SESSION_STORE}"


def is_session_store_url(url: str) -> bool:
    """A URL ``session_store_url`` made: its store is throwaway, and emptied between tests."""
    return url.endswith("/" + _SESSION_STORE)


_SESSION_STORE = "tokenward-tests.db?tokenward_upgrade=off"


def empty(store: TokenStore) -> None:
    """Revoke every token in ``store`` (between tests)."""
    store.delete([record.id for record in store.list()])
