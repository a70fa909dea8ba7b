"""Turning what a user passes to a middleware or adapter into one ``Authenticator``."""

from __future__ import annotations

from typing import Any

from tokenward.authenticator import Authenticator
from tokenward.core.settings import Settings
from tokenward.guard import Guard, StoreSpec

__all__ = ["IDENTITY_KEY", "StoreSpec", "build_authenticator", "resolve_authenticator"]

IDENTITY_KEY = "tokenward.identity"


def build_authenticator(
    store: StoreSpec = None, settings: Settings | None = None, **options: Any
) -> Authenticator:
    """``Guard(store, settings, **options)``, started, and its authenticator. ``store`` may
    be a store, a store URL, or ``None`` for ``$TOKENWARD_STORE`` (required then)."""
    return Guard(store, settings, **options).start().authenticator


def resolve_authenticator(
    store: Guard | StoreSpec,
    settings: Settings | None,
    authenticator: Authenticator | None,
    options: dict[str, Any],
) -> Authenticator:
    """What every shell and adapter accepts, in one place: a ``Guard`` (shared with the
    rest of the application), an ``Authenticator``, or the ingredients of a new guard."""
    if authenticator is not None or isinstance(store, Guard):
        if settings is not None or options:
            raise TypeError("settings and options belong to the Guard; pass them there")
        if authenticator is not None:
            return authenticator
        assert isinstance(store, Guard)
        return store.start().authenticator
    return build_authenticator(store, settings, **options)
