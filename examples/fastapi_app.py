"""FastAPI with tokenward as a security dependency (design §6); /docs shows the padlock.

TOKENWARD_STORE=sqlite:///tokens.db uvicorn --app-dir examples fastapi_app:app
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from tokenward import Identity
from tokenward.contrib.fastapi import TokenwardAuth

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
