"""Redis, for many workers on many hosts (redis-py, sync and asyncio).

Every change is one Lua script, so it is atomic: two workers creating the same name at once
get exactly one token and one ``DuplicateTokenError``. A request costs one round trip (one
script, ``redis_scripts.GET``, reads the digest index, the record and its last use, and
answers them as one string). That answer is decoded once per distinct answer: the same
bytes give back the very record object decoded from them before, so that a token nobody
changed is the same object request after request (the authenticator's warm path rests on
that), and any change, in any process, gives new bytes and so a new record. Keys, under a
prefix:

- ``t:<id>`` the record as JSON (never the secret), ``lu:<id>`` its last use (hash); a
  ``readonly`` member is there only when true (layout 2), so a layout-1 record reads as
  read-write and needs no rewrite; ``revoked_at`` and ``revoked_reason`` likewise only when
  revoked (layout 3), so an older record reads as not revoked;
- ``uc:<id>`` its requests per UTC day (hash: day number → count, layout 3), expiring
  ``USAGE_DAYS`` after its last write;
- ``d:<digest>`` → id, for the current and a rotated-out previous digest;
- ``n:<realm>:<user>:<name>`` → id (names are unique per user and realm);
- ``u:<realm>:<user>`` and ``all``: sets of ids, for listings.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from tokenward.core.tokens import Realm, TokenRecord
from tokenward.errors import (
    ConfigurationError,
    DuplicateTokenError,
    StoreError,
    TokenNotFoundError,
)
from tokenward.stores import redis_scripts as scripts
from tokenward.stores.base import USAGE_DAYS, TokenStore, Usage
from tokenward.stores.url import redact_url, split_store_url

__all__ = ["SCHEMA_VERSION", "RedisStore"]

SCHEMA_VERSION = 3  # 2: records may carry ``readonly``; 3: ``revoked_*`` and ``uc:`` counts
# How many decoded answers ``get``/``aget`` keep (all dropped when full): one per token in use.
DECODED_LIMIT = 4096


class RedisStore(TokenStore):
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "tokenward:",
        timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self._client: redis.Redis = redis.Redis.from_url(url, **options)
        if self._client.connection_pool.connection_kwargs.get("decode_responses"):
            # Replies are read as bytes (the read script's answer is length-prefixed in
            # bytes); decoded ones would fail every request, so refuse at start-up.
            raise ConfigurationError(
                f"{redact_url(url)}: remove decode_responses; tokenward reads Redis replies "
                "as bytes"
            )
        self._options = options
        self._async: tuple[asyncio.AbstractEventLoop, Any] | None = None
        # The read script's answer, as Redis sent it, to the record decoded from it (see the
        # module docstring).
        self._decoded: dict[bytes, TokenRecord] = {}
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (
                ("get", scripts.GET),
                ("add", scripts.ADD),
                ("save", scripts.SAVE),
                ("replace", scripts.REPLACE),
                ("delete", scripts.DELETE),
                ("rename", scripts.RENAME),
                ("usage", scripts.USAGE),
            )
        }
        self._get_sha = self._scripts["get"].sha

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """``redis://host:port/db?tokenward_prefix=myapp:`` (the prefix is optional): every
        other parameter goes to redis-py as written (``tokenward.stores.url``)."""
        parts = split_store_url(url, ("tokenward_prefix",))
        if parts.prefix is not None:
            options.setdefault("prefix", parts.prefix)
        return cls(parts.driver_url, **options)

    def __repr__(self) -> str:
        safe = redact_url(self.url.split("@")[-1])  # never a password in a repr
        return f"RedisStore({safe!r}, prefix={self.prefix!r})"

    def migrate(self) -> str:
        """Record the key layout's version; refuse a layout newer than this code knows."""
        key = self.prefix + "schema_version"
        current = self._call(self._client.get, key)
        if current is not None and int(current) > SCHEMA_VERSION:
            raise StoreError(f"{self!r}: key layout {int(current)} is newer than this tokenward")
        self._call(self._client.set, key, str(SCHEMA_VERSION))
        if current is None:
            return f"created key layout version {SCHEMA_VERSION}"
        if int(current) < SCHEMA_VERSION:
            return f"upgraded key layout version {int(current)} to {SCHEMA_VERSION}"
        return f"key layout version {SCHEMA_VERSION} is up to date"

    def drop(self) -> None:
        """Delete every key under the prefix (tests and uninstalls)."""
        keys = list(self._call(self._client.scan_iter, f"{self.prefix}*"))
        if keys:
            self._call(self._client.delete, *keys)

    # -- request path ---------------------------------------------------------------------

    def get(self, digest: str) -> TokenRecord | None:
        # EVALSHA straight away (what the script object does, less its per-call work); the
        # script object loads the script when the server has lost it (restart, flush).
        found: Any
        try:
            found = self._client.evalsha(self._get_sha, 1, self.prefix, digest)
        except NoScriptError:
            found = self._call(self._scripts["get"], keys=[self.prefix], args=[digest])
        except redis.RedisError as exc:
            raise self._error(exc) from exc
        return self._record(found)

    async def aget(self, digest: str) -> TokenRecord | None:
        script = self._async_script()
        try:
            try:
                found = await script.registered_client.evalsha(
                    self._get_sha, 1, self.prefix, digest
                )
            except NoScriptError:
                found = await script(keys=[self.prefix], args=[digest])
        except redis.RedisError as exc:
            raise self._error(exc) from exc
        return self._record(found)

    def _record(self, found: bytes | None) -> TokenRecord | None:
        """The record in ``redis_scripts.GET``'s answer: decoded once per distinct answer."""
        if found is None:
            return None
        record = self._decoded.get(found)
        if record is None:
            length, _, rest = found.partition(b"\n")
            size = int(length)
            used_at, _, used_ip = rest[size:].partition(b"\n")
            record = _from_fields(rest[:size], used_at, used_ip)
            decoded = self._decoded
            if len(decoded) >= DECODED_LIMIT:
                decoded.clear()
            decoded[found] = record
        return record

    def record_usage(self, usages: Sequence[Usage]) -> None:
        if not usages:
            return
        oldest = max(u.at for u in usages) // 86_400 - USAGE_DAYS + 1
        args: list[str | int] = [oldest, USAGE_DAYS * 86_400]
        for usage in usages:
            args += [usage.token_id, usage.at, usage.ip or "", len(usage.counts)]
            for day, requests in usage.counts:
                args += [day, requests]
        self._call(self._scripts["usage"], keys=[self.prefix], args=args)

    def usage_counts(
        self, token_ids: Sequence[str], *, since_day: int
    ) -> dict[str, dict[int, int]]:
        ids = list(dict.fromkeys(token_ids))
        pipe = self._client.pipeline(transaction=False)
        for token_id in ids:
            pipe.hgetall(f"{self.prefix}uc:{token_id}")
        found: dict[str, dict[int, int]] = {}
        for token_id, days in zip(ids, self._call(pipe.execute) if ids else [], strict=True):
            kept = {int(d): int(n) for d, n in days.items() if int(d) >= since_day}
            if kept:
                found[token_id] = kept
        return found

    # -- management -----------------------------------------------------------------------

    def add(self, record: TokenRecord) -> None:
        if not self._call(self._scripts["add"], keys=[self.prefix], args=_args(record)):
            raise DuplicateTokenError(f"a token named {record.name!r} already exists")
        self._announce()

    def find(self, realm: Realm, user: str, name: str) -> TokenRecord | None:
        token_id = self._call(self._client.get, f"{self.prefix}n:{realm.value}:{user}:{name}")
        return None if token_id is None else self._by_id(token_id.decode())

    def list(self, *, realm: Realm | None = None, user: str | None = None) -> list[TokenRecord]:
        if user is not None and realm is not None:
            ids = self._call(self._client.smembers, f"{self.prefix}u:{realm.value}:{user}")
        else:
            ids = self._call(self._client.smembers, f"{self.prefix}all")
        pipe = self._client.pipeline(transaction=False)
        ordered = sorted(i.decode() for i in ids)
        for token_id in ordered:
            pipe.get(f"{self.prefix}t:{token_id}")
            pipe.hmget(f"{self.prefix}lu:{token_id}", "at", "ip")
        replies = self._call(pipe.execute)
        records = [
            record
            for raw, used in zip(replies[::2], replies[1::2], strict=True)
            if (record := _decode([raw, *used] if raw else None)) is not None
            and (realm is None or record.realm == realm)
            and (user is None or record.user == user)
        ]
        return sorted(records, key=lambda r: (r.realm, r.user, r.name))

    def save(self, record: TokenRecord) -> None:
        outcome = self._call(self._scripts["save"], keys=[self.prefix], args=_args(record))
        if outcome == -1:
            raise TokenNotFoundError(f"token {record.name!r} no longer exists")
        if outcome == 0:
            raise DuplicateTokenError(f"a token named {record.name!r} already exists")
        self._announce()

    def replace_verifier(self, digest: str, old: str, new: str) -> bool:
        token_id = self._call(self._client.get, f"{self.prefix}d:{digest}")
        if token_id is None:
            return False
        raw = self._call(self._client.get, f"{self.prefix}t:{token_id.decode()}")
        if raw is None:
            return False
        document = json.loads(raw)
        if document["digest"] != digest or document["verifier"] != old:
            return False  # the digest is a previous one, or the verifier changed already
        document["verifier"] = new
        args = [token_id.decode(), raw, json.dumps(document)]
        if not self._call(self._scripts["replace"], keys=[self.prefix], args=args):
            return False
        self._announce()
        return True

    def delete(self, token_ids: Iterable[str]) -> int:
        ids = list(token_ids)
        if not ids:
            return 0
        removed = int(self._call(self._scripts["delete"], keys=[self.prefix], args=ids))
        self._announce()
        return removed

    def delete_user(self, realm: Realm, user: str) -> int:
        ids = self._call(self._client.smembers, f"{self.prefix}u:{realm.value}:{user}")
        return self.delete(i.decode() for i in ids)

    def rename_user(self, realm: Realm, old: str, new: str) -> int:
        moved = int(
            self._call(self._scripts["rename"], keys=[self.prefix], args=[realm.value, old, new])
        )
        if moved < 0:
            raise DuplicateTokenError(f"{new} already has a token with one of those names")
        self._announce()
        return moved

    def close(self) -> None:
        self._client.close()

    # -- change feed (for tokenward.stores.cache.CachedStore) ------------------------------

    @property
    def channel(self) -> str:
        return f"{self.prefix}changes"

    def _announce(self) -> None:
        self._call(self._client.publish, self.channel, b"1")

    def listen(
        self, on_ready: Callable[[], None], on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        """Subscribe to changes until ``stop``; raises when the connection is lost."""
        pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            # Only once Redis confirms the subscription is no announcement missed.
            while (message := pubsub.get_message(timeout=1.0)) is None or (
                message["type"] != "subscribe"
            ):
                if stop.is_set():
                    return
            on_ready()
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    on_change()
        finally:
            pubsub.close()

    # -- plumbing -------------------------------------------------------------------------

    def _async_script(self) -> Any:
        """The asyncio client belongs to one event loop: make one per loop."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client: aioredis.Redis = aioredis.Redis.from_url(self.url, **self._options)
            self._async = (loop, client.register_script(scripts.GET))
        return self._async[1]

    async def aclose(self) -> None:
        if self._async is not None:
            _, script = self._async
            self._async = None
            await script.registered_client.aclose()

    def _by_id(self, token_id: str) -> TokenRecord | None:
        pipe = self._client.pipeline(transaction=False)
        pipe.get(f"{self.prefix}t:{token_id}")
        pipe.hmget(f"{self.prefix}lu:{token_id}", "at", "ip")
        raw, used = self._call(pipe.execute)
        return _decode([raw, *used] if raw else None)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except redis.RedisError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: redis.RedisError) -> StoreError:
        return StoreError(f"{self!r} could not answer: {type(exc).__name__}")


def _args(record: TokenRecord) -> list[str]:
    document = {
        "id": record.id,
        "realm": record.realm.value,
        "user": record.user,
        "name": record.name,
        "digest": record.digest,
        "verifier": record.verifier,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "acls": sorted(record.acls),
        "whitelist_ips": list(record.whitelist_ips),
        "previous_digest": record.previous_digest,
        "previous_verifier": record.previous_verifier,
        "previous_until": record.previous_until,
        "readonly": record.readonly or None,
        "revoked_at": record.revoked_at,
        "revoked_reason": record.revoked_reason,
    }
    raw = json.dumps({k: v for k, v in document.items() if v is not None})  # Lua sees nil
    return [
        record.id,
        raw,
        record.digest,
        record.previous_digest or "",
        record.realm.value,
        record.user,
        record.name,
    ]


def _decode(found: Any) -> TokenRecord | None:
    """A record from its JSON and its last-use hash fields, as read by ``list`` and
    ``_by_id``; ``None`` for nothing read."""
    if not found:
        return None
    raw, used_at, used_ip = found
    return _from_fields(raw, used_at, used_ip)


def _from_fields(raw: bytes, used_at: bytes | None, used_ip: bytes | None) -> TokenRecord:
    """A record from its JSON and its last use: ``used_at`` missing or empty for a token
    never used, ``used_ip`` for a use with no address."""
    data = json.loads(raw)
    return TokenRecord(
        id=data["id"],
        realm=Realm(data["realm"]),
        user=data["user"],
        name=data["name"],
        digest=data["digest"],
        verifier=data["verifier"],
        created_at=int(data["created_at"]),
        expires_at=data.get("expires_at"),
        acls=frozenset(data["acls"]),
        whitelist_ips=tuple(data.get("whitelist_ips") or ()),
        last_used_at=int(used_at) if used_at else None,
        last_used_ip=used_ip.decode() if used_ip else None,
        previous_digest=data.get("previous_digest"),
        previous_verifier=data.get("previous_verifier"),
        previous_until=data.get("previous_until"),
        readonly=bool(data.get("readonly", False)),
        revoked_at=data.get("revoked_at"),
        revoked_reason=data.get("revoked_reason"),
    )
