"""System checks: a broken ``settings.TOKENWARD`` is reported at start-up, not on the first
request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from tokenward.errors import TokenwardError

_SCHEMES = (
    "memory://",
    "sqlite:///",
    "postgresql://",
    "postgres://",
    "redis://",
    "rediss://",
    "django",
)


@register(Tags.security)
def check_tokenward_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from tokenward.contrib.django import settings_from_django

    config = getattr(settings, "TOKENWARD", None)
    if config is None:
        return []
    if not isinstance(config, dict):
        return [Error("settings.TOKENWARD must be a dict", id="tokenward.E001")]
    errors: list[CheckMessage] = []
    try:
        store, _, _ = settings_from_django(config)
    except TokenwardError as exc:
        errors.append(Error(f"settings.TOKENWARD: {exc}", id="tokenward.E002"))
        store = config.get("STORE")
    if isinstance(store, str) and not store.startswith(_SCHEMES):
        errors.append(
            Error(
                f"settings.TOKENWARD['STORE'] is not a store URL: {store.split('@')[-1]!r}",
                hint="use memory://, sqlite:///path.db, postgresql://… or redis://…",
                id="tokenward.E003",
            )
        )
    return errors
