"""The OpenAPI document matches what the server answers: it describes every route
``tokenward serve`` serves (with a reason for each it leaves out) and nothing else, each
function's success answers as documented, and schemathesis fuzzes every operation against
a live server (its CLI, as CI would run it)."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis

from tests.api.conftest import LiveServer
from tests.serving import running
from tokenward import MemoryStore, TokenService
from tokenward.management.http import ManagementASGI
from tokenward.management.params import Function
from tokenward.management.uapi import FUNCTIONS as UAPI_FUNCTIONS
from tokenward.management.whm import FUNCTIONS as WHM_FUNCTIONS
from tokenward.server import TokenwardServer, build_server
from tokenward.testing import FAST_ARGON2, MintedToken

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")


def test_openapi_document_is_served_and_lists_every_function(live: LiveServer) -> None:
    document = httpx.get(f"{live.url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert "/execute/Tokens/create_full_access" in document["paths"]
    assert "/json-api/api_token_update" in document["paths"]
    assert document["components"]["securitySchemes"]["cpanelToken"]["name"] == "Authorization"


@pytest.mark.slow
@pytest.mark.skipif(not Path(SCHEMATHESIS).exists(), reason="the dev extra installs schemathesis")
@pytest.mark.parametrize("realm", ["cpanel", "whm"])
def test_schemathesis_finds_no_nonconformance(live: LiveServer, realm: str, tmp_path: Path) -> None:
    token = live.mint(f"fuzz-{realm}", "fuzzer", realm=realm, acls=["all"])
    # revoke_all would revoke the fuzzer's own token and end the run early.
    api = "execute" if realm == "cpanel" else "json-api"
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{live.url}/openapi.json",
            "--header",
            f"Authorization: {token.header}",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--include-path-regex",
            f"^/{api}/",
            "--exclude-path-regex",
            "revoke_all",
            "--seed",
            "1",
            "--no-color",
            "--wait-for-schema",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-12000:]


# -- the document against the routes the server really serves ---------------------------------

# What tokenward serve answers that the document leaves out on purpose, and why. Every other
# route it serves must be in the document, and everything in the document must be served.
UNDOCUMENTED = {
    "/auth": "forward auth, for reverse proxies (docs/deploy.md): no API of its own",
    "/tokens": "the web page: HTML for a browser",
    "/openapi.json": "the document itself",
    "/favicon.ico": "a browser's own request for an icon",
}
BUILT_IN = ("/health", "/openapi.json", "/favicon.ico")  # answered by TokenwardServer itself
REALM_USER = {"cpanel": "alice", "whm": "root"}
# A call of each function that succeeds (``SELF``: the calling token's name, ``SECRET``: its
# secret, ``NEW``: a name not yet taken), so that each success's ``data`` is checked against
# the document. A function the APIs gain must be added here, or the test fails.
SELF, SECRET, NEW = "<self>", "<secret>", "<new>"
SUCCEEDS: dict[str, dict[str, str]] = {
    "create_full_access": {"name": NEW},
    "list": {},
    "rename": {"name": SELF, "new_name": NEW},
    "revoke": {"name": "gone"},
    "rotate": {"name": SELF, "grace": "7200"},  # longer than the caller lives: cut, warned
    "revoke_all": {},
    "purge_expired": {"older_than": "0"},
    "api_token_create": {"token_name": NEW},
    "api_token_list": {},
    "api_token_update": {"token_name": SELF, "new_name": NEW},
    "api_token_revoke": {"token_name": "gone"},
    "api_token_get_details": {"token": SECRET},
    "api_token_rotate": {"token_name": SELF, "grace": "7200"},
    "api_token_revoke_all": {},
    "api_token_purge_expired": {"older_than": "0"},
    "create_user_session": {"user": "root", "service": "whostmgrd"},
}


@dataclasses.dataclass
class Served:
    server: TokenwardServer
    url: str
    service: TokenService
    minted: itertools.count[int] = dataclasses.field(default_factory=itertools.count)

    def caller(self, realm: str) -> MintedToken:
        """A fresh token per call: some calls rename, rotate or revoke their own."""
        name = f"caller-{next(self.minted)}"
        created = self.service.create(
            REALM_USER[realm], name, realm=realm, acls=["all"], expires_at=int(time.time()) + 3600
        )
        return MintedToken(created)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """What ``tokenward serve`` runs (``build_server``), over a store the test mints in."""
    store = MemoryStore()
    server = build_server(store, argon2=FAST_ARGON2)
    with running(server) as url:
        yield Served(server, url, TokenService(store, argon2=FAST_ARGON2))


# The management API's paths, each with the function it dispatches to and its realm.
API: dict[str, tuple[str, Function, str]] = {
    **{f"/execute/Tokens/{n}": (n, f, "cpanel") for n, f in UAPI_FUNCTIONS.items()},
    **{f"/json-api/{n}": (n, f, "whm") for n, f in WHM_FUNCTIONS.items()},
}


def served_paths(server: TokenwardServer) -> set[str]:
    """Every path the server routes: its mounts, with the management API's functions (what
    its apps dispatch on), and the paths it answers itself."""
    paths = set(BUILT_IN)
    for prefix, app in server.routes.items():
        if isinstance(app, ManagementASGI):
            paths |= set(API)
        else:
            paths.add(prefix)
    return paths


def test_the_document_describes_every_route_served_and_nothing_else(served: Served) -> None:
    document = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    paths = served_paths(served.server)
    assert set(UNDOCUMENTED) <= paths, "an exclusion names a route no longer served"
    assert set(document["paths"]) == paths - set(UNDOCUMENTED)
    assert "/credentials/revoke" in document["paths"]
    assert "/json-api/create_user_session" in document["paths"]
    for path, (_, function, _) in API.items():  # each method: exactly the parameters taken
        for operation in document["paths"][path].values():
            documented = {p["name"] for p in operation["parameters"]}
            assert documented == set(function.takes), path
    for path in BUILT_IN:
        assert httpx.get(f"{served.url}{path}", timeout=10).status_code != 404, path


def test_every_function_answers_its_success_as_documented(served: Served) -> None:
    """Each function called as a client would, in GET and POST: the status is a documented
    one and the body matches that status's schema (schemathesis checks it), for a success,
    with the warnings an ignored parameter brings."""
    document = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    assert sorted(SUCCEEDS) == sorted(n for n, _, _ in API.values()), "a call for each function"
    checked = 0
    for path, (name, _, realm) in API.items():
        operations = document["paths"][path]
        for method in operations:
            caller = served.caller(realm)
            given = {
                SELF: caller.created.record.name,
                SECRET: caller.secret,
                NEW: f"{caller.created.record.name}-new",
            }
            params = {key: given.get(value, value) for key, value in SUCCEEDS[name].items()}
            params["ignored_extra"] = "1"  # answered with a warning in the envelope
            with httpx.Client(base_url=served.url, headers=caller.headers, timeout=30) as http:
                if method == "get":
                    response = http.get(path, params=params)
                else:
                    response = http.post(path, data=params)
            assert str(response.status_code) in operations[method]["responses"], path
            answer = response.json()
            if realm == "cpanel":
                assert answer["status"] == 1, (path, answer)
                warnings = answer["warnings"]
            else:
                assert answer["metadata"]["result"] == 1, (path, answer)
                warnings = answer["metadata"]["output"]["warnings"]
            assert any("ignored_extra" in warning for warning in warnings), path
            schema[path][method.upper()].validate_response(response)
            checked += 1
    assert checked == 2 * len(API)


def test_the_leak_report_endpoint_answers_as_documented(served: Served) -> None:
    document = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/credentials/revoke"]["post"]
    assert operation["security"] == []  # no token: whoever found one reports it
    validate = schemathesis.openapi.from_dict(document)["/credentials/revoke"]["POST"]
    leaked = served.caller("cpanel")
    url = f"{served.url}/credentials/revoke"
    for request, status in (
        ({"json": {"credentials": [leaked.secret, "no token at all"]}}, 202),
        ({"json": {"credentials": []}}, 400),
        ({"json": ["not", "an", "object"]}, 400),
        ({"data": {"credentials": leaked.secret}}, 415),
        ({"content": b"{" * (64 << 10 | 1), "headers": {"content-type": "application/json"}}, 413),
    ):
        response = httpx.post(url, timeout=10, **request)
        assert response.status_code == status, (request, response.text)
        assert str(status) in operation["responses"]
        validate.validate_response(response)
    assert httpx.post(url, json={"credentials": ["a", "b"]}, timeout=10).json() == {
        "status": "received",
        "count": 2,
    }
