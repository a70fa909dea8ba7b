"""The OpenAPI 3.1 document of what ``tokenward serve`` answers (served at /openapi.json,
checked in CI by schemathesis against a running server): the management APIs, the leak
report endpoint and ``/health``. Not in it: forward auth (``/auth``, for reverse proxies,
docs/deploy.md), the web page (``/tokens``, HTML), ``/favicon.ico`` and the document itself.

The functions and their parameters are read from the APIs' own tables (``uapi.FUNCTIONS``,
``whm.FUNCTIONS``: what the server dispatches), so a function added there is documented
here; ``tests/api/test_openapi.py`` checks the rest against the served routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenward.core.tokens import TokenStatus
from tokenward.management.http import MAX_BODY as API_MAX_BODY
from tokenward.management.http import MAX_QUERY
from tokenward.management.leaks import MAX_CREDENTIAL_LENGTH, MAX_CREDENTIALS
from tokenward.management.params import Function
from tokenward.management.revoke_endpoint import MAX_BODY as REPORT_MAX_BODY
from tokenward.management.uapi import FUNCTIONS as UAPI_FUNCTIONS
from tokenward.management.whm import FUNCTIONS as WHM_FUNCTIONS
from tokenward.management.whm import SESSION_SERVICES

__all__ = ["PARAMETERS", "openapi_document"]

_STR = {"type": "string"}
_INT = {"type": "integer"}
_STRINGS = {"type": "array", "items": _STR}
_EPOCH_OR_NULL = {"type": ["integer", "null"], "description": "Unix time; null: never"}
_EPOCH = {"type": "string", "description": "Unix time; 0 or absent = never"}
_SECONDS = {"type": "string", "description": "a number of seconds"}
_NAME = {"type": "string", "description": "1-50 of A-Z a-z 0-9 _ -"}
_READONLY = {"type": "string", "description": "1: a read-only token; 0 or absent: read-write"}

# Every parameter a function takes (``Function.takes``), by name. As in cPanel, each is a
# plain string to the transport: a missing or invalid one is a logical failure (200 with
# status/result 0). ``acl``, ``whitelist_ip`` and WHM's ``token_name`` also come as
# ``acl-0``, ``acl-1``… or repeated.
PARAMETERS: Mapping[str, dict[str, Any]] = {
    "name": _NAME,
    "new_name": _NAME,
    "token_name": _NAME,
    "expires_at": _EPOCH,
    "readonly": _READONLY,
    "grace": {
        **_SECONDS,
        "description": "seconds the replaced secret keeps working; cut to the token's expiry "
        "(with a warning in data.warnings) when the token ends sooner",
    },
    "older_than": _SECONDS,
    "acl": {"type": "string", "description": "an ACL name (repeatable)"},
    "whitelist_ip": {"type": "string", "description": "an address or CIDR prefix (repeatable)"},
    "token": {
        "type": "string",
        "description": "the token's secret; send it in the body, not the URL (a URL reaches "
        "access logs: the answer then warns)",
    },
    "user": {"type": "string", "description": "the account the session is for"},
    "service": {"type": "string", "description": " or ".join(sorted(SESSION_SERVICES))},
}

_WARNINGS_DESCRIPTION = (
    "a parameter ignored, a secret sent in the URL: what the call did not do as asked, "
    "though it succeeded"
)
# tokenward's extension fields, in every token object a listing or details answer carries.
_USAGE = {
    "last_used_at": _EPOCH_OR_NULL,
    "last_used_ip": {"type": ["string", "null"]},
    "status": {"enum": [status.value for status in TokenStatus]},
    "revoked_at": {"type": ["integer", "null"], "description": "revoked in place (Unix time)"},
    "revoked_reason": {"type": ["string", "null"]},
    "requests_today": _INT,
    "requests_last_7_days": _INT,
}
# WHM's token object: ``api_token_get_details``'s ``data``, which ``api_token_update``
# answers too.
_WHM_TOKEN = {
    "type": "object",
    "required": [
        "name",
        "create_time",
        "expires_at",
        "acls",
        "whitelist_ips",
        "readonly",
        *_USAGE,
    ],
    "properties": {
        "name": _STR,
        "create_time": _INT,
        "expires_at": _EPOCH_OR_NULL,
        "acls": _STRINGS,
        "whitelist_ips": {"type": ["array", "null"], "items": _STR, "description": "null: any"},
        "readonly": {"enum": [0, 1]},
        **_USAGE,
    },
}
_ROTATED = {
    "type": "object",
    "required": [
        "name",
        "token",
        "create_time",
        "expires_at",
        "previous_secret_until",
        "warnings",
    ],
    "properties": {
        "name": _STR,
        "token": {"type": "string", "description": "the new secret, shown once"},
        "create_time": _INT,
        "expires_at": _EPOCH_OR_NULL,
        "previous_secret_until": {
            "type": ["integer", "null"],
            "description": "when the replaced secret stops working (never after expires_at); "
            "null: it already has",
        },
        "warnings": {
            **_STRINGS,
            "description": "dangerous ACLs, and a grace cut to the token's expiry",
        },
    },
}
_SESSION = {
    "type": "object",
    "required": ["session", "cp_security_token", "url"],
    "properties": {
        "session": _STR,
        "cp_security_token": {
            "type": "string",
            "pattern": "^/cpsess[0-9]{10}$",
            "description": "a path prefix that grants nothing: every call still needs its token",
        },
        "url": _STR,
    },
}
# ``data`` of a successful call, by function; any other function's is left open.
UAPI_DATA: Mapping[str, dict[str, Any]] = {"rotate": _ROTATED}
WHM_DATA: Mapping[str, dict[str, Any]] = {
    "api_token_get_details": _WHM_TOKEN,
    "api_token_update": _WHM_TOKEN,
    "api_token_rotate": _ROTATED,
    "create_user_session": _SESSION,
}


def _uapi_result(data: dict[str, Any]) -> dict[str, Any]:
    """UAPI's ``result`` object: ``data`` is null on a logical failure (status 0)."""
    return {
        "type": "object",
        "required": ["status", "errors", "messages", "warnings", "metadata", "data"],
        "properties": {
            "status": {"enum": [0, 1]},
            "errors": {"type": ["array", "null"], "items": _STR},
            "messages": {"type": ["array", "null"], "items": _STR},
            "warnings": {
                "type": ["array", "null"],
                "items": _STR,
                "description": f"{_WARNINGS_DESCRIPTION}; null when there are none",
            },
            "metadata": {"type": "object"},
            "data": {"oneOf": [{"type": "null"}, data]} if data else {},
        },
    }


def _whm_result(data: dict[str, Any]) -> dict[str, Any]:
    """WHM API 1's answer: no ``data`` on a logical failure (``metadata.result`` 0)."""
    return {
        "type": "object",
        "required": ["metadata"],
        "properties": {
            "metadata": {
                "type": "object",
                "required": ["command", "result", "reason", "version"],
                "properties": {
                    "result": {"enum": [0, 1]},
                    "reason": _STR,
                    "version": {"const": 1},
                    "command": _STR,
                    "output": {
                        "type": "object",
                        "description": "present only when there are warnings",
                        "required": ["warnings"],
                        "properties": {
                            "warnings": {
                                **_STRINGS,
                                "minItems": 1,
                                "description": _WARNINGS_DESCRIPTION,
                            }
                        },
                    },
                },
            },
            "data": data or {"type": "object"},
        },
    }


_ERROR = {"type": "object", "required": ["error"], "properties": {"error": _STR}}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}},
}


def _json(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    return answer | ({"headers": headers} if headers else {})


def _refusals() -> dict[str, Any]:
    """What the management APIs answer before a function runs."""
    return {
        "400": _json(_ERROR, "parameters that cannot be read (too many values, a bad JSON body)"),
        "401": _json(_ERROR, "no valid token of this API's realm"),
        "403": _json(_ERROR, "the token lacks manage-api-tokens"),
        "413": _json(_ERROR, f"a body over {API_MAX_BODY} bytes"),
        "414": _json(_ERROR, f"a query string over {MAX_QUERY} bytes"),
        "429": _json(_ERROR, "too many failures from this address", _RETRY_AFTER),
        "503": _json(_ERROR, "the token store cannot answer", _RETRY_AFTER),
    }


def _operation(function: str, found: Function, result: dict[str, Any]) -> dict[str, Any]:
    params = {name: PARAMETERS[name] for name in found.takes}
    query = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in params.items()
    ]
    # A JSON object body works too: each value is taken as its text, a list as repeated
    # values (``http.parse_params``).
    as_json = {
        name: {"description": schema["description"]} if "description" in schema else {}
        for name, schema in params.items()
    }
    responses = {"200": _json(result, "done, or a logical failure"), **_refusals()}
    get = {"operationId": f"{function}_get", "parameters": query, "responses": responses}
    post = {
        "operationId": f"{function}_post",
        "parameters": query,
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": params}
                },
                "application/json": {"schema": {"type": "object", "properties": as_json}},
            },
        },
        "responses": responses,
    }
    return {"get": get, "post": post}


def _report() -> dict[str, Any]:
    """``POST /credentials/revoke`` (``revoke_endpoint``): no token needed."""
    received = {
        "type": "object",
        "required": ["status", "count"],
        "properties": {
            "status": {"const": "received"},
            "count": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_CREDENTIALS,
                "description": "the number of strings sent, whether or not any matched",
            },
        },
    }
    body = {
        "type": "object",
        "required": ["credentials"],
        "properties": {
            "credentials": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CREDENTIALS,
                "items": {
                    "type": "string",
                    "maxLength": MAX_CREDENTIAL_LENGTH,
                    "description": "a secret, or an Authorization value (cpanel|whm USER:SECRET)",
                },
            }
        },
    }
    return {
        "post": {
            "operationId": "report_leaked_credentials",
            "summary": "Report leaked credentials: what they open is revoked",
            "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "202": _json(
                    received,
                    "accepted, the same whether or not anything matched; the tokens are "
                    "revoked after the answer",
                ),
                "400": _json(_ERROR, "not the shape above"),
                "413": _json(_ERROR, f"a body over {REPORT_MAX_BODY} bytes"),
                "415": _json(_ERROR, "not application/json"),
                "429": _json(_ERROR, "this address has spent its budget", _RETRY_AFTER),
                "503": _json(_ERROR, "too many reports waiting", _RETRY_AFTER),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for function, found in UAPI_FUNCTIONS.items():
        result = _uapi_result(UAPI_DATA.get(function, {}))
        paths[f"/execute/Tokens/{function}"] = _operation(function, found, result)
    for function, found in WHM_FUNCTIONS.items():
        result = _whm_result(WHM_DATA.get(function, {}))
        paths[f"/json-api/{function}"] = _operation(function, found, result)
    paths["/credentials/revoke"] = _report()
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "security": [],
            "responses": {
                "200": _json({"type": "object"}, "the store answers"),
                "503": _json({"type": "object"}, "the store cannot answer"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tokenward",
            "version": "1",
            "description": "cPanel-compatible API-token management (UAPI Tokens for cpanel "
            "tokens, WHM API 1 for whm tokens), and leak reports.",
        },
        "components": {
            "securitySchemes": {
                "cpanelToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`cpanel USER:TOKEN` (UAPI) or `whm USER:TOKEN` (WHM API 1)",
                }
            }
        },
        "security": [{"cpanelToken": []}],
        "paths": paths,
    }
