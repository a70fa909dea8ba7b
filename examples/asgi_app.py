"""A plain ASGI app behind ``TokenwardASGIMiddleware`` (the routes are in docs/examples.md).

TOKENWARD_STORE=sqlite:///tokens.db uvicorn --app-dir examples asgi_app:app
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tokenward import IDENTITY_KEY, Rule, Settings, TokenwardASGIMiddleware

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

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


# The store comes from $TOKENWARD_STORE; without it the app refuses to start.
app = TokenwardASGIMiddleware(routes, settings=SETTINGS)
