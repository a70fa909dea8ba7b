"""WHM API 1's ``api_token_*`` functions (``/json-api/<fn>``, WHM realm), over
``TokenService``.

The answer is ``{"metadata": …, "data": …}``; a logical failure is HTTP 200 with
``metadata.result: 0``, the reason in ``metadata.reason`` and no ``data``. Warnings (a
parameter ignored, a secret sent in the URL) go in ``metadata.output.warnings``, a list.
tokenward's extras are extra fields and functions.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from tokenward.core.acl import ALL, WHM_ACLS, effective_acls
from tokenward.core.network import parse_allow_list
from tokenward.core.tokens import Identity, Realm
from tokenward.errors import TokenNotFoundError, ValidationError
from tokenward.management.params import (
    Call,
    Function,
    Params,
    check_caller,
    check_params,
    expiry,
    many,
    one,
    purge,
    readonly_flag,
    required,
    revoke_all,
    rotate,
    usage,
)
from tokenward.management.service import TokenService
from tokenward.management.views import TokenView

__all__ = ["FUNCTIONS", "SESSION_ORIGIN", "cpanel_ips", "whm_call"]

# The origin (``https://host:port``) the current call came to, for create_user_session's
# ``url``; the server sets it per request. Unset (a WSGI mount), WHM's default port is shown.
SESSION_ORIGIN: ContextVar[str | None] = ContextVar("tokenward_session_origin", default=None)
SESSION_SERVICES = {"whostmgrd": 2087, "cpaneld": 2083}

URL_SECRET = (
    "The token was sent in the URL, which access logs keep: send “token” in a POST body "
    "(form or JSON) instead."
)


def cpanel_ips(entries: Iterable[str]) -> list[str] | None:
    """WHM's form of an allow-list: ``None`` (null) for any address, IPv6 written in full."""
    shown = [
        (ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)).exploded
        for entry in entries
    ]
    return shown or None


def _acl_map(call: Call, acls: frozenset[str]) -> dict[str, int]:
    """Every known ACL (the vocabulary, else WHM's chart) as 0 or 1: the token's *effective*
    ACLs, its own intersected with its owner's current ones, as WHM lists them."""
    directory = call.service.directory
    owner = None if directory is None else directory.owner(Realm.WHM, call.user)
    held = effective_acls(acls, None if owner is None else owner.acls)
    everything = ALL in held
    known = call.service.acl_vocabulary
    names = sorted({*(WHM_ACLS if known is None else known), *acls, *held} - {ALL})
    return {ALL: int(everything)} | {acl: int(everything or acl in held) for acl in names}


def _token(view: TokenView) -> dict[str, Any]:
    """The token object of ``api_token_get_details`` (ACLs as a list), which
    ``api_token_update`` answers too."""
    return {
        "name": view.name,
        "create_time": view.create_time,
        "expires_at": view.expires_at,
        "acls": sorted(view.acls),
        "whitelist_ips": cpanel_ips(view.whitelist_ips),
        "readonly": int(view.readonly),  # a tokenward extension, as UAPI's list has it
        **usage(view),
    }


def _create(call: Call) -> Any:
    created = call.service.create(
        call.user,
        required(call.params, "token_name"),
        realm=Realm.WHM,
        acls=call.acls(),
        whitelist_ips=many(call.params, "whitelist_ip") or (),
        expires_at=expiry(call.params, call.caller.expires_at),
        readonly=readonly_flag(call.params),
        actor=call.caller,
    )
    record = created.record
    return {
        "name": record.name,
        "token": created.secret,
        "create_time": record.created_at,
        "expires_at": record.expires_at,
        "acls": sorted(record.acls),
        "whitelist_ips": cpanel_ips(record.whitelist_ips),
        "readonly": int(record.readonly),
        "warnings": list(created.warnings),
    }


def _list(call: Call) -> Any:
    views = call.service.list_tokens(user=call.user, realm=Realm.WHM, actor=call.caller)
    tokens = {
        view.name: {
            "name": view.name,
            "create_time": view.create_time,
            "expires_at": view.expires_at,
            "acls": _acl_map(call, view.acls),
            "whitelist_ips": cpanel_ips(view.whitelist_ips),
            "readonly": int(view.readonly),
            **usage(view),
        }
        for view in views
    }
    return {"tokens": tokens}


def _changes(call: Call, current: TokenView) -> dict[str, Any]:
    """What ``api_token_update`` asks that differs from the token now, in the service's
    terms. A parameter left out keeps its value; one equal to it is no change."""
    params = call.params
    asked: dict[str, Any] = {}
    if new_name := one(params, "new_name"):
        asked["new_name"] = new_name
    if (acls := call.acls()) is not None:
        asked["acls"] = acls
    if (ips := many(params, "whitelist_ip")) is not None:
        asked["whitelist_ips"] = () if ips == ["any"] else parse_allow_list(ips)
    if "expires_at" in params:
        asked["expires_at"] = expiry(params)
    if (readonly := readonly_flag(params)) is not None:
        asked["readonly"] = readonly
    now = {
        "new_name": current.name,
        "acls": current.acls,
        "whitelist_ips": current.whitelist_ips,
        "expires_at": current.expires_at,
        "readonly": current.readonly,
    }
    return {field: value for field, value in asked.items() if value != now[field]}


def _update(call: Call) -> Any:
    name = required(call.params, "token_name")
    current = call.service.show(call.user, name, realm=Realm.WHM, actor=call.caller)
    changes = _changes(call, current)
    if not changes:  # cPanel's own sample call gives only token_name: a no-op, not an error
        return _token(current)
    record = call.service.update(call.user, name, realm=Realm.WHM, actor=call.caller, **changes)
    return _token(call.service.view(record))


def _revoke(call: Call) -> Any:
    names = many(call.params, "token_name")
    if not names:
        raise ValidationError("The parameter “token_name” is required.")
    call.service.revoke(call.user, names, realm=Realm.WHM, actor=call.caller)
    return {}


def _details(call: Call) -> Any:
    secret = required(call.params, "token")
    if "token" in call.in_url:
        call.warnings.append(URL_SECRET)
    try:  # only the caller's own tokens, and only by their current secret
        view = call.service.show_by_secret(Realm.WHM, secret, actor=call.caller)
    except TokenNotFoundError:
        raise ValidationError("The API token does not exist.") from None
    return _token(view)


def _session(call: Call) -> Any:
    """WHM's ``create_user_session``, cosmetic: the ``/cpsess`` number grants nothing and is
    not checked (tokenward's server accepts any), so every call still needs the token."""
    user = required(call.params, "user")
    service = required(call.params, "service")
    if service not in SESSION_SERVICES:
        known = ", ".join(f"“{name}”" for name in SESSION_SERVICES)
        raise ValidationError(f"The service “{service}” is not supported: use {known}.")
    cpsess = f"/cpsess{secrets.randbelow(10**10):010d}"
    session = f"{user}:{secrets.token_urlsafe(12)}:CREATE_USER_SESSION,{secrets.token_hex(16)}"
    origin = SESSION_ORIGIN.get() or f"https://localhost:{SESSION_SERVICES[service]}"
    return {"session": session, "cp_security_token": cpsess, "url": f"{origin}{cpsess}/"}


_LIMITS = ("acl", "whitelist_ip", "expires_at", "readonly")
FUNCTIONS: Mapping[str, Function] = {
    "api_token_create": Function(
        _create,
        takes=("token_name", *_LIMITS),
        lists=("acl", "whitelist_ip"),
        narrows=_LIMITS,
    ),
    "api_token_list": Function(_list, reads=True),
    "api_token_update": Function(
        _update,
        takes=("token_name", "new_name", *_LIMITS),
        lists=("acl", "whitelist_ip"),
        narrows=_LIMITS,
    ),
    "api_token_revoke": Function(_revoke, takes=("token_name",), lists=("token_name",)),
    "api_token_get_details": Function(_details, takes=("token",), reads=True),
    "api_token_rotate": rotate(Realm.WHM, "token_name"),
    "api_token_revoke_all": revoke_all(Realm.WHM),
    "api_token_purge_expired": purge(Realm.WHM),
    "create_user_session": Function(_session, takes=("user", "service"), reads=True),
}


def whm_call(
    service: TokenService,
    caller: Identity,
    function: str,
    params: Params,
    *,
    in_url: frozenset[str] = frozenset(),
) -> tuple[int, dict[str, Any]]:
    metadata: dict[str, Any] = {"command": function, "result": 1, "reason": "OK", "version": 1}
    found = FUNCTIONS.get(function)
    if found is None:
        metadata.update(
            result=0,
            reason=f"Unknown app (“{function}”) requested for this version (1) of the API.",
        )
        return 404, {"metadata": metadata}
    call = Call(service, caller, params, in_url)
    answer: dict[str, Any] = {"metadata": metadata}
    try:
        check_caller(found, function, caller)
        call.warnings.extend(check_params(found, function, params))
        answer["data"] = found.run(call)
    except (ValidationError, TokenNotFoundError) as exc:
        metadata.update(result=0, reason=str(exc))
    if call.warnings:
        metadata["output"] = {"warnings": call.warnings}
    return 200, answer
