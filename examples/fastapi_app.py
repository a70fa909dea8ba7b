"""FastAPI with tokenward as a security dependency; /docs shows the padlock (the routes are
in docs/examples.md).

TOKENWARD_STORE=sqlite:///tokens.db uvicorn --app-dir examples fastapi_app:app
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI

from tokenward import Identity
from tokenward.contrib.fastapi import TokenwardAuth

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

app = FastAPI(title="tokenward example")
auth = TokenwardAuth()  # the store comes from $TOKENWARD_STORE
auth.install(app)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/whoami")
def whoami(identity: Annotated[Identity, Depends(auth.require())]) -> dict[str, object]:
    return identity.as_dict()


@app.get("/dns/zones")
def zones(identity: Annotated[Identity, Depends(auth.require("edit-dns"))]) -> dict[str, object]:
    return {"zones": ["example.com", "example.net"]}
