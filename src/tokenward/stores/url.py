"""Store URLs (a contract): ``memory://``, ``sqlite:///relative.db``, ``sqlite:////abs.db``,
``postgresql://…``, ``redis://…``. Drivers are imported only when their URL is used."""

from __future__ import annotations

import importlib
import os
import re
from urllib.parse import urlsplit

from tokenward.errors import ConfigurationError
from tokenward.stores.base import TokenStore

__all__ = ["DEFAULT_STORE_URL", "STORE_ENV", "open_store", "store_url_from_env"]

STORE_ENV = "TOKENWARD_STORE"
DEFAULT_STORE_URL = "sqlite:///tokenward.db"

# scheme -> (module, class, extra that installs its driver)
_NETWORK_STORES = {
    "postgresql": ("tokenward.stores.postgres", "PostgresStore", "postgres"),
    "postgres": ("tokenward.stores.postgres", "PostgresStore", "postgres"),
    "redis": ("tokenward.stores.redis", "RedisStore", "redis"),
    "rediss": ("tokenward.stores.redis", "RedisStore", "redis"),
}


def store_url_from_env(explicit: str | None = None) -> str:
    """``--store`` if given, else ``$TOKENWARD_STORE``, else a SQLite file here."""
    return explicit or os.environ.get(STORE_ENV) or DEFAULT_STORE_URL


def open_store(url: str) -> TokenStore:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        from tokenward.stores.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        path = urlsplit(url).path
        # sqlite:///rel.db -> "/rel.db" -> "rel.db"; sqlite:////abs.db -> "//abs.db" -> "/abs.db"
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigurationError(f"store URL {url!r} names no SQLite file")
        from tokenward.stores.sqlite import SQLiteStore

        return SQLiteStore(path)
    if scheme in _NETWORK_STORES:
        url, max_staleness = _cache_option(url)
        module_name, class_name, extra = _NETWORK_STORES[scheme]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"{scheme} store needs its driver: pip install 'tokenward[{extra}]' ({exc})"
            ) from None
        store: TokenStore = getattr(module, class_name).from_url(url)
        if max_staleness is not None:
            from tokenward.stores.cache import CachedStore

            return CachedStore(store, store, max_staleness=max_staleness)  # type: ignore[arg-type]
        return store
    raise ConfigurationError(
        f"unsupported store URL {_redact(url)!r}: use memory://, sqlite:///path.db, "
        "postgresql://… or redis://…"
    )


def _cache_option(url: str) -> tuple[str, float | None]:
    """``…?tokenward_cache=5``: a per-process record cache, pushed invalidations, at most
    5 s of staleness if the push channel is lost (off unless asked for)."""
    match = re.search(r"([?&])tokenward_cache=([^&]*)", url)
    if match is None:
        return url, None
    try:
        seconds = float(match.group(2))
    except ValueError:
        raise ConfigurationError("tokenward_cache= takes a number of seconds") from None
    if seconds <= 0:
        raise ConfigurationError("tokenward_cache= must be positive")
    stripped = url[: match.start()] + match.group(1) + url[match.end() :]
    return stripped.replace("?&", "?").rstrip("?&"), seconds


def _redact(url: str) -> str:
    """Never echo a password from a URL into an error message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
