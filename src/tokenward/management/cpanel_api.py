"""cPanel's token APIs, reproduced over ``TokenService``: the functions, their parameters
(with cPanel's quirks) and their envelopes. No HTTP here: ``management.http`` carries it.

UAPI (``/execute/Tokens/<fn>``, cPanel realm) answers the ``result`` object itself; WHM API 1
(``/json-api/<fn>``, WHM realm) answers ``{"metadata": …, "data": …}``. Logical failures are
HTTP 200 with ``status: 0`` / ``result: 0`` and the reason, as cPanel does. tokenward's extras
(last use, status, rotate, revoke all, purge) are added as extra fields and functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tokenward.core.acl import ALL, WHM_ACL_GROUPS
from tokenward.core.tokens import Identity, Realm
from tokenward.errors import TokenNotFoundError, TokenwardError, ValidationError
from tokenward.management.service import KEEP, TokenService
from tokenward.management.views import TokenView

__all__ = ["Params", "UnknownFunctionError", "uapi_call", "whm_call"]

Params = Mapping[str, Sequence[str]]  # every value a parameter was given, in order
_INDEXED = re.compile(r"(?P<base>[a-z_]+)-(?P<index>\d+)")
_KNOWN_ACLS = tuple(acl for group in WHM_ACL_GROUPS.values() for acl in group if acl != ALL)


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


def expiry(params: Params) -> int | None:
    """``expires_at``: epoch seconds; ``0`` or absent means never."""
    raw = one(params, "expires_at")
    if raw in (None, "", "0"):
        return None
    try:
        return int(raw or "")
    except ValueError:
        raise ValidationError(f"“expires_at” must be a Unix time, not {raw!r}.") from None


def seconds(params: Params, name: str) -> float | None:
    raw = one(params, name)
    if raw in (None, ""):
        return None
    try:
        return float(raw or "")
    except ValueError:
        raise ValidationError(f"“{name}” must be a number of seconds.") from None


def _extras(view: TokenView) -> dict[str, Any]:
    return {
        "last_used_at": view.last_used_at,
        "last_used_ip": view.last_used_ip,
        "status": view.status.value,
        "whitelist_ips": list(view.whitelist_ips),
    }


# -- UAPI: Tokens module, cPanel realm ---------------------------------------------------

Handler = Callable[[TokenService, Identity, Params], Any]


def _uapi_create_full_access(service: TokenService, caller: Identity, params: Params) -> Any:
    created = service.create(
        caller.user,
        required(params, "name"),
        realm=Realm.CPANEL,
        acls=[ALL],
        expires_at=expiry(params),
        actor=caller,
    )
    record = created.record
    return {
        "token": created.secret,
        "create_time": record.created_at,
        "name": record.name,
        "expires_at": record.expires_at,
    }


def _uapi_list(service: TokenService, caller: Identity, params: Params) -> Any:
    return [
        {
            "name": view.name,
            "create_time": view.create_time,
            "expires_at": view.expires_at,
            "has_full_access": 1 if ALL in view.acls else 0,
            "features": sorted(view.acls),
            **_extras(view),
        }
        for view in service.list_tokens(user=caller.user, realm=Realm.CPANEL, actor=caller)
    ]


def _uapi_rename(service: TokenService, caller: Identity, params: Params) -> Any:
    service.rename(
        caller.user,
        required(params, "name"),
        required(params, "new_name"),
        realm=Realm.CPANEL,
        actor=caller,
    )
    return 1


def _uapi_revoke(service: TokenService, caller: Identity, params: Params) -> Any:
    service.revoke(caller.user, [required(params, "name")], realm=Realm.CPANEL, actor=caller)
    return 1


def _rotate(realm: Realm, name_param: str) -> Handler:
    def rotate(service: TokenService, caller: Identity, params: Params) -> Any:
        created = service.rotate(
            caller.user,
            required(params, name_param),
            realm=realm,
            grace=seconds(params, "grace"),
            actor=caller,
        )
        record = created.record
        return {
            "name": record.name,
            "token": created.secret,
            "create_time": record.created_at,
            "expires_at": record.expires_at,
            "previous_secret_until": record.previous_until,
        }

    return rotate


def _revoke_all(realm: Realm) -> Handler:
    def revoke_all(service: TokenService, caller: Identity, params: Params) -> Any:
        gone = service.revoke_all(caller.user, realm=realm, actor=caller)
        return {"revoked": [record.name for record in gone]}

    return revoke_all


def _purge(realm: Realm) -> Handler:
    def purge(service: TokenService, caller: Identity, params: Params) -> Any:
        gone = service.purge_expired(
            seconds(params, "older_than") or 0, realm=realm, user=caller.user, actor=caller
        )
        return {"purged": [record.name for record in gone]}

    return purge


UAPI: dict[str, Handler] = {
    "create_full_access": _uapi_create_full_access,
    "list": _uapi_list,
    "rename": _uapi_rename,
    "revoke": _uapi_revoke,
    "rotate": _rotate(Realm.CPANEL, "name"),
    "revoke_all": _revoke_all(Realm.CPANEL),
    "purge_expired": _purge(Realm.CPANEL),
}


def uapi_call(
    service: TokenService, caller: Identity, module: str, function: str, params: Params
) -> tuple[int, dict[str, Any]]:
    """UAPI's ``result`` object (what ``/execute/<Module>/<fn>`` returns)."""
    handler = UAPI.get(function) if module == "Tokens" else None
    envelope: dict[str, Any] = {
        "status": 1,
        "errors": None,
        "messages": None,
        "warnings": None,
        "metadata": {},
        "data": None,
    }
    if handler is None:
        envelope.update(status=0, errors=[f"Failed to load module “{module}::{function}”."])
        return 404, envelope
    try:
        envelope["data"] = handler(service, caller, params)
    except (ValidationError, TokenNotFoundError) as exc:
        envelope.update(status=0, errors=[str(exc)])
    return 200, envelope


# -- WHM API 1, WHM realm ----------------------------------------------------------------


def _acl_map(acls: frozenset[str]) -> dict[str, int]:
    everything = ALL in acls
    names = sorted({*_KNOWN_ACLS, *acls} - {ALL})
    return {ALL: int(everything)} | {acl: int(everything or acl in acls) for acl in names}


def _whm_record(view: TokenView) -> dict[str, Any]:
    return {
        "name": view.name,
        "create_time": view.create_time,
        "expires_at": view.expires_at,
        "acls": _acl_map(view.acls),
        **_extras(view),
    }


def _whm_create(service: TokenService, caller: Identity, params: Params) -> Any:
    created = service.create(
        caller.user,
        required(params, "token_name"),
        realm=Realm.WHM,
        acls=many(params, "acl"),
        whitelist_ips=many(params, "whitelist_ip") or (),
        expires_at=expiry(params),
        actor=caller,
    )
    record = created.record
    return {
        "name": record.name,
        "token": created.secret,
        "create_time": record.created_at,
        "expires_at": record.expires_at,
        "acls": sorted(record.acls),
        "whitelist_ips": list(record.whitelist_ips),
        "warnings": list(created.warnings),
    }


def _whm_list(service: TokenService, caller: Identity, params: Params) -> Any:
    views = service.list_tokens(user=caller.user, realm=Realm.WHM, actor=caller)
    return {"tokens": {view.name: _whm_record(view) for view in views}}


def _whm_update(service: TokenService, caller: Identity, params: Params) -> Any:
    ips = many(params, "whitelist_ip")
    record = service.update(
        caller.user,
        required(params, "token_name"),
        realm=Realm.WHM,
        new_name=one(params, "new_name") or None,
        expires_at=expiry(params) if "expires_at" in params else KEEP,
        acls=KEEP if (acls := many(params, "acl")) is None else acls,
        whitelist_ips=KEEP if ips is None else ([] if ips == ["any"] else ips),
        actor=caller,
    )
    return {
        "name": record.name,
        "create_time": record.created_at,
        "expires_at": record.expires_at,
        "acls": sorted(record.acls),
        "whitelist_ips": list(record.whitelist_ips),
    }


def _whm_revoke(service: TokenService, caller: Identity, params: Params) -> Any:
    names = many(params, "token_name")
    if not names:
        raise ValidationError("The parameter “token_name” is required.")
    service.revoke(caller.user, names, realm=Realm.WHM, actor=caller)
    return {}


def _whm_details(service: TokenService, caller: Identity, params: Params) -> Any:
    try:  # only the caller's own tokens, and only by their current secret
        view = service.show_by_secret(Realm.WHM, required(params, "token"), actor=caller)
    except TokenNotFoundError:
        raise ValidationError("The API token does not exist.") from None
    return {"tokens": {view.name: _whm_record(view)}}


WHM: dict[str, Handler] = {
    "api_token_create": _whm_create,
    "api_token_list": _whm_list,
    "api_token_update": _whm_update,
    "api_token_revoke": _whm_revoke,
    "api_token_get_details": _whm_details,
    "api_token_rotate": _rotate(Realm.WHM, "token_name"),
    "api_token_revoke_all": _revoke_all(Realm.WHM),
    "api_token_purge_expired": _purge(Realm.WHM),
}


def whm_call(
    service: TokenService, caller: Identity, function: str, params: Params
) -> tuple[int, dict[str, Any]]:
    metadata: dict[str, Any] = {"command": function, "result": 1, "reason": "OK", "version": 1}
    handler = WHM.get(function)
    if handler is None:
        metadata.update(
            result=0,
            reason=f"Unknown app (“{function}”) requested for this version (1) of the API.",
        )
        return 404, {"metadata": metadata}
    try:
        data = handler(service, caller, params)
    except (ValidationError, TokenNotFoundError) as exc:
        metadata.update(result=0, reason=str(exc))
        return 200, {"metadata": metadata}
    return 200, {"metadata": metadata, "data": data}
