"""What UAPI and WHM API 1 share: reading cPanel-style parameters, checking them against a
function's signature, and tokenward's extra functions (the same in both APIs).

A parameter a function does not take is ignored with a warning in the answer, unless
ignoring it would leave a token less restricted than the caller asked (an ``acl`` given to
``create_full_access``, an ``expires_in`` meant as ``expires_at``): that is refused, and
nothing is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tokenward.core.acl import WHM_ACLS, normalize_acls
from tokenward.core.tokens import Identity, Realm
from tokenward.errors import TokenwardError, ValidationError
from tokenward.management.service import TokenService
from tokenward.management.views import TokenView

__all__ = [
    "WIDER",
    "Call",
    "Function",
    "Params",
    "UnknownFunctionError",
    "check_caller",
    "check_params",
    "expiry",
    "many",
    "one",
    "purge",
    "readonly_flag",
    "required",
    "revoke_all",
    "rotate",
    "seconds",
    "usage",
]

Params = Mapping[str, Sequence[str]]  # every value a parameter was given, in order
_INDEXED = re.compile(r"(?P<base>[a-z_]+)-(?P<index>\d+)")
SILENT = frozenset({"api.version"})  # every WHM API 1 client sends it; nothing to say
WIDER = "refused rather than ignored, since ignoring it would leave the token less restricted"


class UnknownFunctionError(TokenwardError):
    """No such API function (HTTP 404, still in the API's envelope)."""


def one(params: Params, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def required(params: Params, name: str) -> str:
    value = one(params, name)
    if not value:
        raise ValidationError(f"The parameter “{name}” is required.")
    return value


def many(params: Params, base: str) -> list[str] | None:
    """``acl=a&acl=b`` and ``acl-0=a&acl-1=b`` alike; ``None`` when the parameter is absent."""
    indexed = sorted(
        (int(m["index"]), values)
        for key, values in params.items()
        if (m := _INDEXED.fullmatch(key)) and m["base"] == base
    )
    if base not in params and not indexed:
        return None
    found = list(params.get(base, ()))
    for _, values in indexed:
        found.extend(values)
    return [value for value in found if value != ""]


def expiry(params: Params, default: int | None = None) -> int | None:
    """``expires_at``: epoch seconds; ``0`` means never. Absent means ``default``: the
    calling token's own expiry, since a token cannot mint one that outlives it (``None``,
    never, for a caller that never expires, as in cPanel)."""
    raw = one(params, "expires_at")
    if raw is None:
        return default
    if raw in ("", "0"):
        return None
    try:
        return int(raw or "")
    except ValueError:
        raise ValidationError(f"“expires_at” must be a Unix time, not {raw!r}.") from None


def readonly_flag(params: Params) -> bool | None:
    """``readonly``: ``1`` or ``0`` (cPanel 11.137); ``None`` when absent."""
    raw = one(params, "readonly")
    if raw in (None, ""):
        return None
    if raw not in ("0", "1"):
        raise ValidationError(f"“readonly” must be 1 or 0, not {raw!r}.")
    return raw == "1"


def seconds(params: Params, name: str) -> float | None:
    raw = one(params, name)
    if raw in (None, ""):
        return None
    try:
        return float(raw or "")
    except ValueError:
        raise ValidationError(f"“{name}” must be a number of seconds.") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One API call: who makes it, what it asked (``in_url``: the names that came in the
    query string), and the warnings its answer will carry."""

    service: TokenService
    caller: Identity
    params: Params
    in_url: frozenset[str] = frozenset()
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def user(self) -> str:
        return self.caller.user

    def acls(self) -> frozenset[str] | None:
        """The ``acl…`` given, each a known name (``None`` when none is given).

        Known: the ``acl_vocabulary`` setting when there is one (it replaces WHM's chart,
        as everywhere in tokenward), else WHM's chart; ``all`` always. Checked here, before
        the service, because without a vocabulary the service takes any well-formed name,
        and a client's typo must not become a stored ACL that matches nothing.
        """
        given = many(self.params, "acl")
        configured = self.service.acl_vocabulary
        vocabulary = WHM_ACLS if configured is None else configured
        return None if given is None else normalize_acls(given, vocabulary)


@dataclasses.dataclass(frozen=True, slots=True)
class Function:
    """An API function and its signature.

    ``takes``: its parameters (those in ``lists`` also as ``name-N``). ``narrows``: those
    whose loss would leave a token wider than asked, so an unknown name close to one is
    refused rather than ignored. ``cannot``: names it refuses outright, with the reason.
    ``transformed``: UAPI's ``metadata.transformed`` (the data is a reshaped list).
    ``reads``: it changes nothing (cPanel's ``x-readonly``), so a read-only token may call
    it; a read-only token calling any other is refused, whatever the HTTP method.
    """

    run: Callable[[Call], Any]
    takes: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    narrows: tuple[str, ...] = ()
    cannot: Mapping[str, str] = dataclasses.field(default_factory=dict)
    transformed: bool = False
    reads: bool = False


def check_caller(function: Function, label: str, caller: Identity) -> None:
    """A read-only token calls only the functions that change nothing, as in cPanel (UAPI
    takes GET for every function, so the request path's method rule is not enough)."""
    if caller.readonly and not function.reads:
        raise ValidationError(f"The API token is read-only, and {label} changes state.")


def check_params(function: Function, label: str, params: Params) -> list[str]:
    """Warnings for the parameters ``function`` ignores; ``ValidationError`` for one it
    cannot honour or one that looks like a narrowing parameter mistyped."""
    warnings: list[str] = []
    for key in params:
        match = _INDEXED.fullmatch(key)
        base = match["base"] if match else key
        if key in function.takes or key in SILENT or (match and base in function.lists):
            continue
        if base in function.cannot:
            raise ValidationError(function.cannot[base])
        if key.startswith("api."):
            warnings.append(
                f"tokenward does not implement “{key}” (WHM API 1's filter, sort and paging "
                "options); it was ignored."
            )
            continue
        found = difflib.get_close_matches(base, [*function.takes, *function.cannot], n=1)
        guess = found[0] if found else None
        if guess is not None and (guess in function.narrows or guess in function.cannot):
            raise ValidationError(
                f"{label} does not take “{key}” (did you mean “{guess}”?): {WIDER} than asked."
            )
        hint = f" Did you mean “{guess}”?" if guess else ""
        warnings.append(f"{label} does not take “{key}”; it was ignored.{hint}")
    return warnings


def usage(view: TokenView) -> dict[str, Any]:
    """tokenward's extra fields in every listing: cPanel's APIs show neither use nor a token
    revoked in place (cPanel deletes a revoked token), so these are additions, and the
    fields cPanel defines keep their meaning."""
    return {
        "last_used_at": view.last_used_at,
        "last_used_ip": view.last_used_ip,
        "status": view.status.value,
        "revoked_at": view.revoked_at,
        "revoked_reason": view.revoked_reason,
        "requests_today": view.requests_today,
        "requests_last_7_days": view.requests_last_7_days,
    }


# -- tokenward's extras, the same in both APIs --------------------------------------------


def rotate(realm: Realm, name_param: str) -> Function:
    def run(call: Call) -> Any:
        created = call.service.rotate(
            call.user,
            required(call.params, name_param),
            realm=realm,
            grace=seconds(call.params, "grace"),
            actor=call.caller,
        )
        record = created.record
        return {
            "name": record.name,
            "token": created.secret,
            "create_time": record.created_at,
            "expires_at": record.expires_at,
            "previous_secret_until": record.previous_until,
            # As api_token_create's: ACLs that let the token escape its limits, and a grace
            # cut to the token's own expiry (``TokenService.rotate``).
            "warnings": list(created.warnings),
        }

    return Function(run, takes=(name_param, "grace"))


def revoke_all(realm: Realm) -> Function:
    def run(call: Call) -> Any:
        gone = call.service.revoke_all(call.user, realm=realm, actor=call.caller)
        return {"revoked": [record.name for record in gone]}

    return Function(run)


def purge(realm: Realm) -> Function:
    def run(call: Call) -> Any:
        older_than = seconds(call.params, "older_than") or 0
        gone = call.service.purge_expired(
            older_than, realm=realm, user=call.user, actor=call.caller
        )
        return {"purged": [record.name for record in gone]}

    return Function(run, takes=("older_than",))
