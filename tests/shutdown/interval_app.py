"""The app the SIGKILL test serves: tokenward in front of a tiny app that says which
worker answered, with a short last-use interval (the examples keep the 60 s default and
cannot be configured). Store from $TOKENWARD_STORE, as in production."""

from __future__ import annotations

import json
import os

from tokenward import IDENTITY_KEY, Settings, TokenwardASGIMiddleware
from tokenward.asgi import Receive, Scope, Send

INTERVAL_ENV = "SHUTDOWN_TEST_LAST_USED_INTERVAL"


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # no lifespan of its own, as the raw example
    body = json.dumps({"user": scope[IDENTITY_KEY].user, "pid": os.getpid()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


app = TokenwardASGIMiddleware(
    whoami, settings=Settings(last_used_interval=float(os.environ[INTERVAL_ENV]))
)
