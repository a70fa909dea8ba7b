"""Starlette with tokenward as its authentication backend (the routes are in
docs/examples.md). ``requires`` is tokenward's: its 403 is the JSON body every integration
sends, where Starlette's own answers a plain-text ``Forbidden``.

TOKENWARD_STORE=sqlite:///tokens.db uvicorn --app-dir examples starlette_app:app
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokenward import Rule, Settings
from tokenward.contrib.starlette import TokenwardBackend, TokenwardUser, requires

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

# Every path but /health needs a token; the store comes from $TOKENWARD_STORE.
backend = TokenwardBackend(settings=Settings(rules=(Rule.public("/health"),)))


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def whoami(request: Request) -> JSONResponse:
    user: TokenwardUser = request.user
    return JSONResponse(user.token.as_dict())


@requires("edit-dns")
async def zones(request: Request) -> JSONResponse:
    return JSONResponse({"zones": ["example.com", "example.net"]})


app = Starlette(
    routes=[Route("/health", health), Route("/whoami", whoami), Route("/dns/zones", zones)],
    lifespan=backend.lifespan,  # last use written at shutdown
    middleware=[Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)],
)
