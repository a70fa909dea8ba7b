"""One frozen, validated configuration object, built once at start-up.

Framework adapters translate ``app.config`` or ``settings.TOKENWARD`` into ``Settings``;
nothing is read from the environment or from settings on the request path.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from tokenward.core.acl import normalize_acls
from tokenward.core.crypto import Argon2Profile
from tokenward.core.formats import TOKEN_FORMATS, TokenFormat
from tokenward.core.network import (
    PROXY_HEADERS,
    Address,
    Network,
    ProxyHeader,
    parse_networks,
    resolve_client_address,
    resolve_scheme,
)
from tokenward.core.paths import readings
from tokenward.core.request import RequestInfo
from tokenward.core.tokens import Realm
from tokenward.errors import ConfigurationError, TokenwardError

__all__ = ["PUBLIC", "Access", "Requirement", "Rule", "Settings"]

Access = Literal["token", "optional", "public"]
Requirement = tuple[Access, frozenset[str]]
PUBLIC: Requirement = ("public", frozenset())  # what a public rule requires: nothing
_ACCESS: tuple[Access, ...] = ("token", "optional", "public")
_STRICTNESS: dict[Access, int] = {"public": 0, "optional": 1, "token": 2}
_REQUIREMENT_CACHE = 4096
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
    _below: str = dataclasses.field(init=False, repr=False, compare=False)

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
        object.__setattr__(self, "_below", self.prefix.rstrip("/") + "/")

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
        return path.startswith(self._below) or path == self.prefix or self._below == "/"


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
    # What new secrets look like (``tokenward.core.formats``); both formats authenticate.
    token_format: TokenFormat = "cpanel"
    proxy_networks: tuple[Network, ...] = dataclasses.field(init=False, repr=False)
    _folded_rules: tuple[Rule, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _judged: Callable[[str, str], Requirement | None] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.default_access not in _ACCESS:
            raise ConfigurationError(f"default_access must be one of {_ACCESS}")
        if not self.realms:
            raise ConfigurationError("at least one realm must be accepted")
        object.__setattr__(self, "realms", frozenset(Realm.parse(r) for r in self.realms))
        if self.proxy_header not in PROXY_HEADERS:
            raise ConfigurationError(f"proxy_header must be one of {', '.join(PROXY_HEADERS)}")
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
        if self.token_format not in TOKEN_FORMATS:
            raise ConfigurationError(f"token_format must be one of {', '.join(TOKEN_FORMATS)}")
        # For a case-insensitive router's reading: the rules with case-folded prefixes.
        folded = tuple(dataclasses.replace(r, prefix=r.prefix.lower()) for r in self.rules)
        same = all(r.prefix == f.prefix for r, f in zip(self.rules, folded, strict=True))
        object.__setattr__(self, "_folded_rules", self.rules if same else folded)
        judged = functools.lru_cache(maxsize=_REQUIREMENT_CACHE)(self._strictest)
        object.__setattr__(self, "_judged", judged)

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
        """The most specific rule matching this exact reading of a path: the longest
        prefix, a method-bound one first."""
        return _most_specific(self.rules, method, path)

    def requirement(self, method: str, path: str) -> Requirement | None:
        """Access and ACLs for a request, or ``None`` when its path must be refused (400).

        The path is the one the application routes on (below its mount point). Rules are
        judged on every reading of it that a router, a proxy or a backend might make
        (``tokenward.core.paths``) and the strictest wins: the most demanding access, and
        every ACL any reading requires. So ``/health/../admin``, ``//admin``,
        ``/health/..;/admin`` or ``/%2e%2e/admin`` never borrow a public prefix's rule.
        """
        return self._judged(method, path)

    def _strictest(self, method: str, path: str) -> Requirement | None:
        found = readings(path)
        if found is None:
            return None
        methods = (method, "GET") if method == "HEAD" else (method,)  # HEAD runs GET views
        lowered = {reading.lower() for reading in found}
        folded = self._folded_rules
        pairs: tuple[tuple[tuple[Rule, ...], frozenset[str]], ...]
        if folded is self.rules:  # no prefix has a capital: one set of rules for all forms
            pairs = ((self.rules, found | lowered),)
        else:
            pairs = ((self.rules, found), (folded, frozenset(lowered)))
        access: Access = "public"
        acls: frozenset[str] = frozenset()
        for verb in methods:
            for rules, forms in pairs:
                for form in forms:
                    rule = _most_specific(rules, verb, form)
                    this, needed = (
                        (self.default_access, frozenset())
                        if rule is None
                        else (rule.access, rule.acls)
                    )
                    if _STRICTNESS[this] > _STRICTNESS[access]:
                        access = this
                    acls |= needed
        return (access if not acls else "token"), acls

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


def _most_specific(rules: tuple[Rule, ...], method: str, path: str) -> Rule | None:
    best: Rule | None = None
    for rule in rules:
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
