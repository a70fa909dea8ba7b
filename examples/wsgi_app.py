"""A plain WSGI app behind ``TokenwardWSGIMiddleware`` (the routes are in docs/examples.md).

TOKENWARD_STORE=sqlite:///tokens.db gunicorn --chdir examples wsgi_app:app
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from tokenward import IDENTITY_KEY, Rule, Settings, TokenwardWSGIMiddleware

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

SETTINGS = Settings(rules=(Rule.public("/health"), Rule.require("/dns", "edit-dns")))


def routes(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        status, payload = "200 OK", {"status": "ok"}
    elif path == "/whoami":
        status, payload = "200 OK", environ[IDENTITY_KEY].as_dict()
    elif path == "/dns/zones":
        status, payload = "200 OK", {"zones": ["example.com", "example.net"]}
    else:
        status, payload = "404 Not Found", {"error": "not found"}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


# The store comes from $TOKENWARD_STORE; without it the app refuses to start.
app = TokenwardWSGIMiddleware(routes, settings=SETTINGS)
