"""The app the multi-process tests serve with gunicorn: tokenward in front of a tiny app
that says which worker answered. Store from $TOKENWARD_STORE, as in production."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tokenward import IDENTITY_KEY, Settings, TokenwardWSGIMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def whoami(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    identity = environ[IDENTITY_KEY]
    body = json.dumps({"user": identity.user, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


app = TokenwardWSGIMiddleware(whoami, settings=Settings(last_used_interval=0.5))
