"""Tokens in the Django project's own database, with the request path off the ORM.

``TOKENWARD = {"STORE": "django"}`` (or ``"django:<alias>"``) keeps tokenward's table in that
database: requests read it through tokenward's own SQLite or PostgreSQL store (one raw
indexed query, no ORM), while the admin shows it through an unmanaged model that has no
field for the digest or the verifier.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from django.conf import settings

from tokenward.errors import ConfigurationError

__all__ = ["resolve_store_url", "store_url_for_database"]


def store_url_for_database(alias: str = "default") -> str:
    try:
        database = settings.DATABASES[alias]
    except KeyError:
        raise ConfigurationError(f"TOKENWARD STORE names unknown database {alias!r}") from None
    engine = database.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return f"sqlite:///{os.path.abspath(str(database['NAME']))}"
    if "postgresql" in engine:
        user = quote(str(database.get("USER") or ""), safe="")
        password = quote(str(database.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = database.get("HOST") or "localhost"
        port = f":{database['PORT']}" if database.get("PORT") else ""
        return f"postgresql://{credentials}{host}{port}/{database['NAME']}"
    raise ConfigurationError(f"tokenward keeps tokens in SQLite or PostgreSQL, not {engine}")


def resolve_store_url(store: object) -> object:
    """``"django"``/``"django:alias"`` → the store URL of that database; anything else as is."""
    if isinstance(store, str) and (store == "django" or store.startswith("django:")):
        return store_url_for_database(store.partition(":")[2] or "default")
    return store
