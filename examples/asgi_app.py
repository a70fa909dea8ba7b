"""A plain ASGI app behind ``TokenwardASGIMiddleware`` (design §6).

TOKENWARD_STORE=sqlite:///tokens.db uvicorn --app-dir examples asgi_app:app
"""

from __future__ import annotations

import json
from typing import Any

from tokenward import IDENTITY_KEY, Rule, Settings, TokenwardASGIMiddleware

SETTINGS = Settings(rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")))


async def routes(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/health":
        status, payload = 200, {"status": "ok"}
    elif path == "/whoami":
        status, payload = 200, scope[IDENTITY_KEY].as_dict()
    elif path == "/dns/zones":
        status, payload = 200, {"zones": ["example.com", "example.net"]}
    else:
        status, payload = 404, {"error": "not found"}
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The store comes from $TOKENWARD_STORE (else ./tokenward.db).
app = TokenwardASGIMiddleware(routes, settings=SETTINGS)
