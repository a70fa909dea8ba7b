"""Flask behind tokenward (design §6).

TOKENWARD_STORE=sqlite:///tokens.db flask --app examples/flask_app.py run
"""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from tokenward import Rule
from tokenward.contrib.flask import Tokenward, current_identity, requires

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
