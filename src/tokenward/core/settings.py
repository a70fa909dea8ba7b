"""One frozen, validated configuration object, built once at start-up.

Framework adapters translate ``app.config`` or ``settings.TOKENWARD`` into ``Settings``;
nothing is read from the environment or from settings on the request path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from tokenward.core.acl import normalize_acls
from tokenward.core.crypto import Argon2Profile
from tokenward.core.network import (
    Address,
    Network,
    ProxyHeader,
    parse_networks,
    resolve_client_address,
    resolve_scheme,
)
from tokenward.core.request import RequestInfo
from tokenward.core.tokens import Realm
from tokenward.errors import ConfigurationError, TokenwardError

__all__ = ["Access", "Rule", "Settings", "normalize_path"]

Access = Literal["token", "optional", "public"]
_ACCESS: tuple[Access, ...] = ("token", "optional", "public")
_LABEL_RE = re.compile(r"[A-Za-z0-9 ._-]{1,64}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What a path prefix (and optionally a set of methods) needs.

    ``access``: ``token`` (a valid token is required), ``optional`` (a token is checked when
    sent, the request passes without one) or ``public`` (the header is not even read).
    ``prefix`` matches whole segments: ``/dns`` covers ``/dns`` and ``/dns/zones``, not ``/dnsx``.
    """

    prefix: str
    acls: frozenset[str] = frozenset()
    methods: frozenset[str] | None = None
    access: Access = "token"

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/"):
            raise ConfigurationError(f"rule prefix {self.prefix!r} must start with '/'")
        if self.access not in _ACCESS:
            raise ConfigurationError(f"rule access must be one of {_ACCESS}, not {self.access!r}")
        if self.acls and self.access == "public":
            raise ConfigurationError(f"public rule {self.prefix!r} cannot require ACLs")
        try:
            acls = normalize_acls(self.acls) if self.acls else frozenset()
        except TokenwardError as exc:
            raise ConfigurationError(f"rule {self.prefix!r}: {exc}") from None
        object.__setattr__(self, "acls", acls)
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    @classmethod
    def public(cls, prefix: str, methods: Iterable[str] | None = None) -> Rule:
        return cls(prefix=prefix, access="public", methods=_methods(methods))

    @classmethod
    def optional(cls, prefix: str, methods: Iterable[str] | None = None) -> Rule:
        return cls(prefix=prefix, access="optional", methods=_methods(methods))

    @classmethod
    def require(cls, prefix: str, *acls: str, methods: Iterable[str] | None = None) -> Rule:
        return cls(prefix=prefix, acls=frozenset(acls), methods=_methods(methods))

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        base = self.prefix.rstrip("/")
        return path == self.prefix or path.startswith(base + "/") or not base


def normalize_path(path: str) -> str:
    """Collapse empty and dot segments the way a router or a proxy may later do."""
    if "//" not in path and "/." not in path and path.startswith("/"):
        return path
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    trailing = "/" if path.endswith(("/", "/.", "/..")) and parts else ""
    return "/" + "/".join(parts) + trailing


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(methods)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the request path needs to know, validated once."""

    rules: tuple[Rule, ...] = ()
    default_access: Access = "token"
    realms: frozenset[Realm] = frozenset(Realm)
    trusted_proxies: tuple[str, ...] = ()
    proxy_header: ProxyHeader = "x-forwarded-for"
    argon2: Argon2Profile = dataclasses.field(default_factory=Argon2Profile)
    last_used_interval: float = 60.0
    max_concurrent_verifications: int = 2
    max_queued_verifications: int = 64
    verified_cache_size: int = 10_000
    upgrade_verifiers: bool = True
    realm_label: str = "tokenward"
    retry_after: int = 5
    acl_vocabulary: frozenset[str] | None = None
    https_only: bool = False
    max_failures: int = 0
    failure_window: float = 300.0
    proxy_networks: tuple[Network, ...] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.default_access not in _ACCESS:
            raise ConfigurationError(f"default_access must be one of {_ACCESS}")
        if not self.realms:
            raise ConfigurationError("at least one realm must be accepted")
        object.__setattr__(self, "realms", frozenset(Realm.parse(r) for r in self.realms))
        if self.proxy_header not in ("x-forwarded-for", "forwarded"):
            raise ConfigurationError("proxy_header must be 'x-forwarded-for' or 'forwarded'")
        try:
            networks = parse_networks(self.trusted_proxies, what="trusted proxy")
        except TokenwardError as exc:
            raise ConfigurationError(str(exc)) from None
        object.__setattr__(self, "proxy_networks", networks)
        if self.last_used_interval <= 0:
            raise ConfigurationError("last_used_interval must be positive")
        if self.max_concurrent_verifications < 1 or self.max_queued_verifications < 0:
            raise ConfigurationError("verification limits must be positive")
        if self.verified_cache_size < 0:
            raise ConfigurationError("verified_cache_size cannot be negative")
        if _LABEL_RE.fullmatch(self.realm_label) is None:
            raise ConfigurationError("realm_label must be 1-64 of letters, digits, ' ._-'")
        if self.max_failures < 0 or self.failure_window <= 0:
            raise ConfigurationError("max_failures must be >= 0 (0: off), failure_window > 0")
        if self.retry_after < 1:
            raise ConfigurationError("retry_after must be at least one second")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build from a plain mapping (``settings.TOKENWARD``, ``TOKENWARD_*`` config keys).

        Unknown keys are an error: a typo must not silently leave a route unprotected.
        """
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigurationError(f"unknown tokenward setting(s): {', '.join(unknown)}")
        kwargs = dict(values)
        if "rules" in kwargs:
            kwargs["rules"] = tuple(
                rule if isinstance(rule, Rule) else Rule(**rule) for rule in kwargs["rules"]
            )
        for key in ("realms", "acl_vocabulary"):
            if kwargs.get(key) is not None:
                kwargs[key] = frozenset(kwargs[key])
        if "trusted_proxies" in kwargs:
            kwargs["trusted_proxies"] = tuple(kwargs["trusted_proxies"])
        if isinstance(kwargs.get("argon2"), Mapping):
            kwargs["argon2"] = Argon2Profile(**kwargs["argon2"])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigurationError(str(exc)) from None

    def rule_for(self, method: str, path: str) -> Rule | None:
        """The most specific matching rule: the longest prefix, a method-bound one first."""
        best: Rule | None = None
        for rule in self.rules:
            if rule.matches(method, path) and (
                best is None
                or len(rule.prefix) > len(best.prefix)
                or (
                    len(rule.prefix) == len(best.prefix)
                    and best.methods is None
                    and rule.methods is not None
                )
            ):
                best = rule
        return best

    def requirement(self, method: str, path: str) -> tuple[Access, frozenset[str]]:
        """Access and ACLs for a request. The path is normalised first, so that
        ``/health/../admin`` or ``//admin`` cannot borrow a public prefix's rule."""
        rule = self.rule_for(method, normalize_path(path))
        if rule is None:
            return self.default_access, frozenset()
        return rule.access, rule.acls

    def client_address(self, request: RequestInfo) -> Address | None:
        """The client's address, forwarding headers believed only from trusted proxies."""
        return resolve_client_address(
            request.peer, request.forwarded, self.proxy_networks, self.proxy_header
        )

    def client_scheme(self, request: RequestInfo) -> str:
        """The scheme the client used, ``X-Forwarded-Proto`` believed only from trusted
        proxies."""
        return resolve_scheme(
            request.scheme,
            peer=request.peer,
            forwarded_values=request.forwarded,
            forwarded_proto=request.forwarded_proto,
            trusted_proxies=self.proxy_networks,
            header=self.proxy_header,
        )
