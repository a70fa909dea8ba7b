"""The OpenAPI 3.1 document of what ``tokenward serve`` answers (served at /openapi.json,
checked in CI by schemathesis against a running server)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_STR = {"type": "string"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_EPOCH = {"type": "string", "description": "Unix time; 0 or absent = never"}
_SECONDS = {"type": "string", "description": "a number of seconds"}
_NAME = {"type": "string", "description": "1-50 of A-Z a-z 0-9 _ -"}
_READONLY = {"type": "string", "description": "1: a read-only token; 0 or absent: read-write"}

# function -> {parameter: schema}. As in cPanel, every parameter is a plain string to the
# transport: a missing or invalid one is a logical failure (200 with status/result 0).
UAPI_FUNCTIONS: dict[str, dict[str, Any]] = {
    "create_full_access": {"name": _NAME, "expires_at": _EPOCH, "readonly": _READONLY},
    "list": {},
    "rename": {"name": _NAME, "new_name": _NAME},
    "revoke": {"name": _NAME},
    "rotate": {"name": _NAME, "grace": _SECONDS},
    "revoke_all": {},
    "purge_expired": {"older_than": _SECONDS},
}
WHM_FUNCTIONS: dict[str, dict[str, Any]] = {
    "api_token_create": {
        "token_name": _NAME,
        "acl": _STR,
        "whitelist_ip": _STR,
        "expires_at": _EPOCH,
        "readonly": _READONLY,
    },
    "api_token_list": {},
    "api_token_update": {
        "token_name": _NAME,
        "new_name": _NAME,
        "acl": _STR,
        "whitelist_ip": _STR,
        "expires_at": _EPOCH,
        "readonly": _READONLY,
    },
    "api_token_revoke": {"token_name": _NAME},
    "api_token_get_details": {"token": _STR},
    "api_token_rotate": {
        "token_name": _NAME,
        "grace": _SECONDS,
    },
    "api_token_revoke_all": {},
    "api_token_purge_expired": {"older_than": _SECONDS},
}

_UAPI_RESULT = {
    "type": "object",
    "required": ["status", "errors", "messages", "warnings", "metadata", "data"],
    "properties": {
        "status": {"enum": [0, 1]},
        "errors": {"type": ["array", "null"], "items": _STR},
        "messages": {"type": ["array", "null"]},
        "warnings": {"type": ["array", "null"]},
        "metadata": {"type": "object"},
        "data": {},
    },
}
_WHM_RESULT = {
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
            },
        },
        "data": {"type": "object"},
    },
}
_ERROR = {"type": "object", "properties": {"error": _STR}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _refusals() -> dict[str, Any]:
    return {
        "401": _json(_ERROR, "no valid token of this API's realm"),
        "403": _json(_ERROR, "the token lacks manage-api-tokens"),
        "429": _json(_ERROR, "too many failures from this address"),
        "503": _json(_ERROR, "the token store cannot answer"),
    }


def _operation(function: str, params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    query = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in params.items()
    ]
    get = {
        "operationId": f"{function}_get",
        "parameters": query,
        "responses": {"200": _json(result, "done, or a logical failure"), **_refusals()},
    }
    post = {
        "operationId": f"{function}_post",
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": params}
                }
            },
        },
        "responses": {"200": _json(result, "done, or a logical failure"), **_refusals()},
    }
    return {"get": get, "post": post}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for function, params in UAPI_FUNCTIONS.items():
        paths[f"/execute/Tokens/{function}"] = _operation(function, params, _UAPI_RESULT)
    for function, params in WHM_FUNCTIONS.items():
        paths[f"/json-api/{function}"] = _operation(function, params, _WHM_RESULT)
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
            "tokens, WHM API 1 for whm tokens).",
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
