"""Helpers for tests: of tokenward itself and of the apps that use it.

Real tokens, minted into a real store with the cheapest argon2 profile, so tests exercise
the same code path as production without spending tens of milliseconds per token.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator

from tokenward import factory
from tokenward.authenticator import live_authenticators
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
    "fast_settings",
    "use_store",
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
    ) -> MintedToken:
        self._count += 1
        if expires_in is not None:
            expires_at = int(self.clock() + expires_in)
        created = self.service.create(
            user,
            name or f"token-{self._count}",
            realm=realm,
            acls=acls,
            whitelist_ips=whitelist_ips,
            expires_at=expires_at,
        )
        return MintedToken(created)


@contextlib.contextmanager
def use_store(store: TokenStore) -> Iterator[TokenStore]:
    """Point every authenticator in this process at ``store`` for the duration.

    An app built at import time (``app = TokenwardWSGIMiddleware(app)``, ``Tokenward(app)``)
    or during the test (an app factory, Django's lazily built middleware) then accepts the
    tokens a test mints into ``store``, without any change to the app's code. The previous
    stores come back afterwards. Meanwhile no verifier is upgraded: test tokens are weak
    on purpose, and a background write must not race the test's own checks.
    """
    swapped = [
        (auth, auth.use_store(store), auth.verifications.upgrade) for auth in live_authenticators()
    ]
    for auth, _, _ in swapped:
        auth.verifications.upgrade = None
    factory._test_stores.append(store)
    try:
        yield store
    finally:
        factory._test_stores.remove(store)
        for auth, previous, upgrade in swapped:
            auth.use_store(previous)
            auth.verifications.upgrade = upgrade
