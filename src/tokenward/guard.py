"""The composition root: one object, built once by the application, the CLI, the server or
a test, that owns everything tokenward keeps for it, and that every shell, adapter,
management app and server receives.

    guard = Guard("sqlite:///tokens.db", Settings(rules=(Rule.public("/health"),)))
    app = TokenwardASGIMiddleware(app, guard)
    ...
    guard.close()            # or: with Guard(...) as guard / async with Guard(...) as guard

It owns the store, the settings, the user directory, the audit hook, the failure limiter,
the verification pool, the last-use writer, the token service and, when given, what
reports metrics (``tokenward.metrics``). Nothing else in the
library keeps instances in a module: a test passes its store through the same door a user
does (``Guard(store)``, ``store=`` on a middleware, or ``$TOKENWARD_STORE``).
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib
import json
import os
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from tokenward.audit import AuditHook, log_event
from tokenward.authenticator import Authenticator
from tokenward.core.clock import Clock
from tokenward.core.crypto import SecretHasher
from tokenward.core.policy import UserDirectory
from tokenward.core.responses import Responses
from tokenward.core.settings import Access, Rule, Settings
from tokenward.errors import ConfigurationError
from tokenward.limits import FailureLimiter, MemoryFailureLimiter
from tokenward.management.service import TokenService
from tokenward.metrics import Metrics
from tokenward.stores.base import TokenStore
from tokenward.stores.url import STORE_ENV, open_store, upgrades_verifiers
from tokenward.usage import UsageTracker
from tokenward.verification import VerificationPool

__all__ = ["Guard", "StoreSpec", "configuration", "env_options"]

StoreSpec = TokenStore | str | None
# What a mapping (Django's TOKENWARD, Flask's TOKENWARD_* keys, the environment) may name
# beside the Settings fields: the objects a Guard is built with.
_OBJECTS = ("directory", "audit", "limiter", "metrics")
_ENV_PREFIX = "TOKENWARD_"


class Guard:
    """Everything tokenward keeps for one application, with an explicit lifecycle."""

    def __init__(
        self,
        store: StoreSpec = None,
        settings: Settings | None = None,
        *,
        directory: UserDirectory | None = None,
        audit: AuditHook | None = log_event,
        audit_success: bool = False,
        limiter: FailureLimiter | None = None,
        metrics: Metrics | None = None,
        clock: Clock = time.time,
        background_flush: bool = True,
    ) -> None:
        """``store``: a store, a store URL, or ``None`` for ``$TOKENWARD_STORE``; with
        neither, a ``ConfigurationError`` says what to set (a silently created file in
        whatever directory the server started in would hold no tokens). A store given as an
        object stays the caller's to close; one opened from a URL is closed with the guard.
        ``metrics``: where decisions, store reads, argon2 runs and 429s are reported
        (``tokenward.contrib.prometheus.PrometheusMetrics``, …); ``None``, the default,
        reports nothing."""
        self.settings = settings = settings or Settings()
        url = None if isinstance(store, TokenStore) else (store or os.environ.get(STORE_ENV))
        self._owns_store = url is not None
        self.store: TokenStore = store if isinstance(store, TokenStore) else _open(url)
        upgrade = settings.upgrade_verifiers and (url is None or upgrades_verifiers(url))
        self.clock = clock
        self.directory = directory
        self.audit = audit
        self.audit_success = audit_success
        if limiter is None and settings.max_failures:
            limiter = MemoryFailureLimiter(settings.max_failures, settings.failure_window)
        self.limiter = limiter
        self.metrics = metrics
        self.responses = Responses(settings.realm_label, settings.retry_after)
        self.verifications = VerificationPool(
            SecretHasher(settings.argon2),
            settings.max_concurrent_verifications,
            settings.max_queued_verifications,
            remember=settings.verified_cache_size,
            upgrade=self.store.replace_verifier if upgrade else None,
            metrics=metrics,
        )
        self.usage = UsageTracker(
            self.store, settings.last_used_interval, background=background_flush
        )
        self.service = TokenService(
            self.store,
            argon2=settings.argon2,
            clock=clock,
            directory=directory,
            acl_vocabulary=settings.acl_vocabulary,
            audit=audit,
            token_format=settings.token_format,
        )
        self._exit_hook: Any = None
        self._closed = False
        self.authenticator = Authenticator(self)
        if metrics is not None:
            metrics.watch(self)

    def __repr__(self) -> str:
        return f"Guard({self.store!r})"

    def authenticator_for(
        self, rules: tuple[Rule, ...], default_access: Access | None = None
    ) -> Authenticator:
        """An authenticator with other route rules (a management API, forward auth for
        another upstream) that shares this guard's store, pool, limiter and last-use
        writer: one verification per token and one write per interval, whoever asks."""
        settings = dataclasses.replace(
            self.settings,
            rules=rules,
            default_access=default_access or self.settings.default_access,
        )
        return Authenticator(self, settings)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Guard:
        """Arms the flush at a normal interpreter exit (a WSGI worker that returns from its
        loop); servers with a shutdown event call ``close``/``aclose`` themselves. Shells
        call this; calling it again does nothing."""
        if self._exit_hook is None and not self._closed:
            ref = weakref.ref(self)

            def flush_at_exit() -> None:  # pragma: no cover - runs at interpreter exit
                guard = ref()
                if guard is not None:
                    guard.close()

            self._exit_hook = flush_at_exit
            atexit.register(flush_at_exit)
        return self

    def close(self) -> None:
        """Write pending last-used times, stop the helper threads, and close a store this
        guard opened. Idempotent; a later request starts the threads again."""
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        self.usage.close()
        self.verifications.close()
        if self._owns_store and not self._closed:
            self.store.close()
        self._closed = True

    async def astart(self) -> Guard:
        return self.start()

    async def aclose(self) -> None:
        """What the store opened on the running event loop, then ``close`` (the last-use
        flush goes through the store's sync client, which ``aclose`` leaves open)."""
        await self.store.aclose()
        self.close()

    def __enter__(self) -> Guard:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Guard:
        return await self.astart()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- configuration in one shape ---------------------------------------------------------

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], **overrides: Any) -> Guard:
        """From one mapping in any case (Django's ``TOKENWARD``, Flask's ``TOKENWARD_*``
        keys without the prefix): ``store``, ``directory``, ``audit``, ``limiter``,
        ``metrics`` (an object, or a dotted path to one), and ``Settings`` fields. Unknown
        keys are refused by the same check everywhere; ``overrides`` (clock, …) go to the
        constructor."""
        store, settings, options = configuration(values)
        return cls(store, settings, **options, **overrides)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Guard:
        """From ``TOKENWARD_STORE`` and ``TOKENWARD_<FIELD>`` variables; a value that reads
        as JSON is taken as such (``TOKENWARD_TRUSTED_PROXIES='["10.0.0.0/8"]'``,
        ``TOKENWARD_RULES='[{"prefix": "/health", "access": "public"}]'``), else as text."""
        env = os.environ if environ is None else environ
        return cls.from_mapping(env_options(env), **overrides)


def configuration(values: Mapping[str, Any]) -> tuple[Any, Settings, dict[str, Any]]:
    """(store, ``Settings``, the guard's objects) from one mapping, validated: the one check
    behind ``Guard.from_mapping``, Flask's config, Django's settings and its system check."""
    lowered = {str(key).lower(): value for key, value in values.items()}
    options: dict[str, Any] = {
        name: _resolve(name, lowered.pop(name)) for name in _OBJECTS if name in lowered
    }
    store = lowered.pop("store", None)
    given = lowered.pop("settings", None)
    if given is not None and not isinstance(given, Settings):
        raise ConfigurationError("settings must be a tokenward Settings object")
    if given is not None and lowered:
        raise ConfigurationError(
            f"give either settings or separate fields, not both ({', '.join(sorted(lowered))})"
        )
    return store, given or Settings.from_mapping(lowered), options


def env_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``TOKENWARD_*`` variables as a mapping for ``Guard.from_mapping`` (the CLI's own
    variables, such as ``TOKENWARD_ARGON2``, are not settings and are left out)."""
    fields = {f.name for f in dataclasses.fields(Settings) if f.init}
    wanted = fields | {"store", *_OBJECTS}
    options: dict[str, Any] = {}
    for key, text in environ.items():
        if not key.startswith(_ENV_PREFIX):
            continue
        name = key[len(_ENV_PREFIX) :].lower()
        if name not in wanted:
            continue
        try:
            options[name] = text if name == "store" else json.loads(text)
        except ValueError:
            options[name] = text
    return options


def _open(url: str | None) -> TokenStore:
    if not url:
        raise ConfigurationError(
            f"no token store: pass store= (a store or a URL such as sqlite:///tokens.db) or "
            f"set {STORE_ENV}; nothing is created in the working directory by default"
        )
    return open_store(url)


def _resolve(name: str, value: Any) -> Any:
    """An object as given, or the object a dotted path (``package.module.attribute``)
    names; a path to a class gets an instance."""
    if not isinstance(value, str):
        return value
    module_name, _, attribute = value.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        raise ConfigurationError(f"{name}: cannot import {value!r}") from None
    return found() if isinstance(found, type) else found
