"""UAPI's ``Tokens`` module (``/execute/Tokens/<fn>``, cPanel realm), over ``TokenService``.

The answer is UAPI's ``result`` object itself; a logical failure is HTTP 200 with
``status: 0`` and the reason in ``errors``. Warnings (a parameter ignored, a secret sent in
the URL) go in ``warnings``. tokenward's extras are extra fields and functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenward.core.acl import ALL
from tokenward.core.tokens import Identity, Realm
from tokenward.errors import TokenNotFoundError, ValidationError
from tokenward.management.params import (
    WIDER,
    Call,
    Function,
    Params,
    check_caller,
    check_params,
    expiry,
    purge,
    readonly_flag,
    required,
    revoke_all,
    rotate,
    usage,
)
from tokenward.management.service import TokenService

__all__ = ["FUNCTIONS", "uapi_call"]


def _full_access_only(name: str) -> str:
    return (
        f"Tokens::create_full_access makes a full-access token usable from any address; it "
        f"takes no “{name}”: {WIDER} than asked."
    )


def _create_full_access(call: Call) -> Any:
    created = call.service.create(
        call.user,
        required(call.params, "name"),
        realm=Realm.CPANEL,
        acls=[ALL],
        expires_at=expiry(call.params, call.caller.expires_at),
        readonly=readonly_flag(call.params),
        actor=call.caller,
    )
    record = created.record
    return {
        "token": created.secret,
        "create_time": record.created_at,
        "name": record.name,
        "expires_at": record.expires_at,
    }


def _list(call: Call) -> Any:
    views = call.service.list_tokens(user=call.user, realm=Realm.CPANEL, actor=call.caller)
    return [
        {
            "name": view.name,
            "create_time": view.create_time,
            "expires_at": view.expires_at,
            "has_full_access": int(ALL in view.acls),
            # cPanel lists no features for a full-access token; a scoped token (tokenward
            # only) lists its ACLs.
            "features": [] if ALL in view.acls else sorted(view.acls),
            "whitelist_ips": list(view.whitelist_ips),
            "readonly": int(view.readonly),
            **usage(view),
        }
        for view in views
    ]


def _rename(call: Call) -> Any:
    call.service.rename(
        call.user,
        required(call.params, "name"),
        required(call.params, "new_name"),
        realm=Realm.CPANEL,
        actor=call.caller,
    )
    return None


def _revoke(call: Call) -> Any:
    name = required(call.params, "name")
    call.service.revoke(call.user, [name], realm=Realm.CPANEL, actor=call.caller)
    return 1


FUNCTIONS: Mapping[str, Function] = {
    "create_full_access": Function(
        _create_full_access,
        takes=("name", "expires_at", "readonly"),
        narrows=("expires_at", "readonly"),
        cannot={p: _full_access_only(p) for p in ("acl", "whitelist_ip", "features")},
    ),
    "list": Function(_list, transformed=True, reads=True),
    "rename": Function(_rename, takes=("name", "new_name")),
    "revoke": Function(_revoke, takes=("name",)),
    "rotate": rotate(Realm.CPANEL, "name"),
    "revoke_all": revoke_all(Realm.CPANEL),
    "purge_expired": purge(Realm.CPANEL),
}


def uapi_call(
    service: TokenService,
    caller: Identity,
    module: str,
    function: str,
    params: Params,
    *,
    in_url: frozenset[str] = frozenset(),
) -> tuple[int, dict[str, Any]]:
    """UAPI's ``result`` object (what ``/execute/<Module>/<fn>`` returns)."""
    found = FUNCTIONS.get(function) if module == "Tokens" else None
    envelope: dict[str, Any] = {
        "status": 1,
        "errors": None,
        "messages": None,
        "warnings": None,
        "metadata": {},
        "data": None,
    }
    if found is None:
        envelope.update(status=0, errors=[f"Failed to load module “{module}::{function}”."])
        return 404, envelope
    call = Call(service, caller, params, in_url)
    try:
        check_caller(found, f"Tokens::{function}", caller)
        call.warnings.extend(check_params(found, f"Tokens::{function}", params))
        envelope["data"] = found.run(call)
        if found.transformed:
            envelope["metadata"] = {"transformed": 1}
    except (ValidationError, TokenNotFoundError) as exc:
        envelope.update(status=0, errors=[str(exc)], data=None)
    envelope["warnings"] = call.warnings or None
    return 200, envelope
