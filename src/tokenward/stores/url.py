"""Store URLs (a contract): ``memory://``, ``sqlite:///relative.db``, ``sqlite:////abs.db``,
``postgresql://…``, ``redis://…``. Drivers are imported only when their URL is used.

tokenward's own options ride in the query string as ``tokenward_*`` parameters
(``tokenward_cache``; ``tokenward_schema`` for PostgreSQL, ``tokenward_prefix`` for Redis;
``tokenward_upgrade=off`` on any store, for the guard rather than the store).
``split_store_url`` is the one place they are read: every other parameter belongs to the
driver and reaches it exactly as written, repeated or valueless alike.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re
from collections.abc import Collection
from urllib.parse import parse_qsl, urlsplit

from tokenward.errors import ConfigurationError
from tokenward.stores.base import TokenStore

__all__ = [
    "DEFAULT_STORE_URL",
    "STORE_ENV",
    "StoreURL",
    "open_store",
    "redact_url",
    "split_store_url",
    "store_url_from_env",
]

STORE_ENV = "TOKENWARD_STORE"
DEFAULT_STORE_URL = "sqlite:///tokenward.db"

_OWN = "tokenward_"
_CACHE = "tokenward_cache"
_SCHEMA = "tokenward_schema"
_PREFIX = "tokenward_prefix"
_UPGRADE = "tokenward_upgrade"
_SWITCH = {"on": True, "off": False}

# scheme -> (module, class, extra that installs its driver, its own URL option)
_NETWORK_STORES = {
    "postgresql": ("tokenward.stores.postgres", "PostgresStore", "postgres", _SCHEMA),
    "postgres": ("tokenward.stores.postgres", "PostgresStore", "postgres", _SCHEMA),
    "redis": ("tokenward.stores.redis", "RedisStore", "redis", _PREFIX),
    "rediss": ("tokenward.stores.redis", "RedisStore", "redis", _PREFIX),
}


@dataclasses.dataclass(frozen=True, slots=True)
class StoreURL:
    """A store URL split in two: what the driver gets, and tokenward's options, checked."""

    driver_url: str
    cache: float | None = None  # tokenward_cache: at most this many seconds of staleness
    schema: str | None = None  # tokenward_schema: the PostgreSQL schema
    prefix: str | None = None  # tokenward_prefix: the Redis key prefix
    upgrade: bool | None = None  # tokenward_upgrade=on|off: may guards re-hash its tokens


def store_url_from_env(explicit: str | None = None) -> str:
    """``--store`` if given, else ``$TOKENWARD_STORE``, else a SQLite file here."""
    return explicit or os.environ.get(STORE_ENV) or DEFAULT_STORE_URL


def open_store(url: str, *, create: bool = True) -> TokenStore:
    """The store a URL names. ``create=False`` never makes one: a SQLite file that does not
    exist is a ``StoreError`` naming it (network stores never create anything on open; their
    schema comes from ``migrate()``)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        split_store_url(url, (_UPGRADE,))
        from tokenward.stores.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        path = urlsplit(split_store_url(url, (_UPGRADE,)).driver_url).path
        # sqlite:///rel.db -> "/rel.db" -> "rel.db"; sqlite:////abs.db -> "//abs.db" -> "/abs.db"
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigurationError(f"store URL {url!r} names no SQLite file")
        from tokenward.stores.sqlite import SQLiteStore

        return SQLiteStore(path, create=create)
    if scheme in _NETWORK_STORES:
        module_name, class_name, extra, own = _NETWORK_STORES[scheme]
        parts = split_store_url(url, (own, _CACHE, _UPGRADE))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"{scheme} store needs its driver: pip install 'tokenward[{extra}]' ({exc})"
            ) from None
        options: dict[str, str] = {}  # only the scheme's own option can have been given
        if parts.schema is not None:
            options["schema"] = parts.schema
        if parts.prefix is not None:
            options["prefix"] = parts.prefix
        store: TokenStore = getattr(module, class_name)(parts.driver_url, **options)
        if parts.cache is not None:
            # A per-process record cache, changes pushed by the store itself (off unless asked).
            from tokenward.stores.cache import CachedStore

            return CachedStore(store, store, max_staleness=parts.cache)  # type: ignore[arg-type]
        return store
    raise ConfigurationError(
        f"unsupported store URL {redact_url(url)!r}: use memory://, sqlite:///path.db, "
        "postgresql://… or redis://…"
    )


def upgrades_verifiers(url: str) -> bool:
    """False when the URL says ``tokenward_upgrade=off``: guards serving from this store
    must not re-hash its tokens (a test session's throwaway store)."""
    every = (_CACHE, _UPGRADE, *(own for *_, own in _NETWORK_STORES.values()))
    return split_store_url(url, every).upgrade is not False


def split_store_url(url: str, allowed: Collection[str]) -> StoreURL:
    """``url`` without its ``tokenward_*`` parameters, and their checked values.

    A parameter whose name starts ``tokenward_`` (in any case) is tokenward's: it must be
    one of ``allowed``, given once, with a value; anything else is a ``ConfigurationError``
    naming the valid ones. Every other parameter is the driver's and stays in the URL as
    written and in order, repeated and valueless ones included; only empty fields (``&&``)
    are dropped. Errors name options, never the URL, so never its password.
    """
    rest, hash_mark, fragment = url.partition("#")
    base, _, query = rest.partition("?")
    kept: list[str] = []
    own: dict[str, str] = {}
    for field in query.split("&"):
        parsed = parse_qsl(field, keep_blank_values=True)
        if not parsed:
            continue  # an empty field
        name = parsed[0][0]
        if not name.lower().startswith(_OWN):
            kept.append(field)
            continue
        if name not in allowed:
            raise ConfigurationError(_unknown(name, url, allowed))
        if name in own:
            raise ConfigurationError(f"store URL option {name} is given twice")
        try:
            ((_, value),) = parse_qsl(field, keep_blank_values=True, strict_parsing=True)
        except ValueError:  # no "=" at all
            value = ""
        if not value:
            raise ConfigurationError(f"store URL option {name} needs a value ({name}=…)")
        own[name] = value
    driver_url = base + (f"?{'&'.join(kept)}" if kept else "") + hash_mark + fragment
    cache, upgrade = own.get(_CACHE), own.get(_UPGRADE)
    return StoreURL(
        driver_url,
        cache=None if cache is None else _seconds(cache),
        schema=own.get(_SCHEMA),
        prefix=own.get(_PREFIX),
        upgrade=None if upgrade is None else _switch(_UPGRADE, upgrade),
    )


def _unknown(name: str, url: str, allowed: Collection[str]) -> str:
    scheme = url.partition("://")[0].lower() if "://" in url else "these"  # never the rest
    valid = f"take {', '.join(sorted(allowed))}" if allowed else "take no tokenward_ options"
    return f"unknown store URL option {name!r}: {scheme} URLs {valid}"


def _switch(name: str, value: str) -> bool:
    if value.lower() not in _SWITCH:
        raise ConfigurationError(f"{name}={value!r}: on or off")
    return _SWITCH[value.lower()]


def _seconds(value: str) -> float:
    """``tokenward_cache=5``: the longest a cached record may be served if the change
    channel is lost, in seconds."""
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(
            f"{_CACHE}={value!r}: a number of seconds, like {_CACHE}=5"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{_CACHE}={value!r}: must be positive and finite")
    return seconds


# `password=`, `sslpassword=`, quoted or not, in a URL's query or a libpq keyword string.
_PASSWORD_VALUE = re.compile(r"(?i)((?:^|[?&\s])\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s#]*)")


def redact_url(url: str) -> str:
    """``url`` with every password in it (``user:PASSWORD@``, ``?password=``, libpq's
    ``password=``) replaced by ``***``: for messages and reprs."""
    try:
        password = urlsplit(url).password
    except ValueError:  # not a URL: a libpq keyword string, say
        password = None
    if password:
        url = url.replace(f":{password}@", ":***@", 1)
    return _PASSWORD_VALUE.sub(r"\1***", url)
