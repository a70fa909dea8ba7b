"""Flask behind tokenward (the routes are in docs/examples.md).

TOKENWARD_STORE=sqlite:///tokens.db flask --app examples/flask_app.py run
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from tokenward import Rule
from tokenward.contrib.flask import Tokenward, current_identity, requires

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

app = Flask(__name__)
app.config["TOKENWARD_RULES"] = [Rule.public("/health")]  # every other path needs a token
Tokenward(app)  # store from $TOKENWARD_STORE (or app.config["TOKENWARD_STORE"])


@app.get("/health")
def health() -> ResponseReturnValue:
    return jsonify(status="ok")


@app.get("/whoami")
def whoami() -> ResponseReturnValue:
    identity = current_identity()
    assert identity is not None  # every path but /health needs a token
    return jsonify(identity.as_dict())


@app.get("/dns/zones")
@requires("edit-dns")
def zones() -> ResponseReturnValue:
    return jsonify(zones=["example.com", "example.net"])
