"""The management API bounds every input before parsing it: body and query size, number of
parameter values, values of one parameter, and allow-list entries (counted before any is
parsed), so no single request can make it parse tens of thousands of addresses."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest

from tokenward.core.network import MAX_ALLOWED_IPS
from tokenward.management.http import MAX_BODY, ManagementWSGI
from tokenward.testing import MintedToken

from .harness import InProcessApi, snapshot

ATTACK = 62_000  # the allow-list size of the reported attack


def addresses(count: int) -> list[str]:
    """``count`` distinct, short IPv6 addresses (``::1``, ``::2``, …)."""
    return [f"::{i:x}" for i in range(1, count + 1)]


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


@pytest.fixture
def root(api: InProcessApi) -> MintedToken:
    return api.mint("reseller", "root", realm="whm", acls=["all"])


CREATE = "/json-api/api_token_create"


@pytest.mark.parametrize(
    ("request_", "answer"),
    [
        pytest.param(
            {"json": {"token_name": "x", "whitelist_ip": addresses(ATTACK)}},
            (413, f"request body too large (at most {MAX_BODY} bytes)"),
            id="json-body-62000-addresses",
        ),
        pytest.param(
            {"data": {"token_name": "x", "whitelist_ip": addresses(1_000)}},
            (400, "The parameter “whitelist_ip” has more than 256 values."),
            id="form-1000-addresses",
        ),
        pytest.param(
            {"data": {"token_name": "x", **{f"p{i}": "" for i in range(2_000)}}},
            (400, "The request has more than 1024 parameter values."),
            id="form-2000-parameters",
        ),
        pytest.param(
            {
                "content": '{"token_name": "x", "acl": ' + "[" * 30_000 + "]" * 30_000 + "}",
                "headers": {"content-type": "application/json"},
            },
            (400, "The request body is not valid JSON."),
            id="json-nested-30000-deep",
        ),
        pytest.param(
            {"json": {"token_name": "x", "whitelist_ip": addresses(150)}},
            (200, "at most 100 IP allow-list entries, got 150"),
            id="json-150-addresses",
        ),
        pytest.param(
            {
                "data": {
                    "token_name": "x",
                    **{f"whitelist_ip-{i}": ip for i, ip in enumerate(addresses(150))},
                }
            },
            (200, "at most 100 IP allow-list entries, got 150"),
            id="indexed-150-addresses",
        ),
    ],
)
def test_an_oversized_request_is_refused_before_its_addresses_are_parsed(
    api: InProcessApi,
    root: MintedToken,
    parsed_networks: list[str],
    request_: dict[str, Any],
    answer: tuple[int, str],
) -> None:
    status, message = answer
    before = snapshot(api.service)

    response = api.post(root, CREATE, **request_)

    assert response.status_code == status, response.text[:300]
    body = response.json()
    if status == 200:  # reached the API: refused in WHM's envelope
        assert body["metadata"]["result"] == 0
        assert body["metadata"]["reason"] == message
    else:
        assert body == {"error": message}
    assert len(parsed_networks) <= MAX_ALLOWED_IPS
    assert snapshot(api.service) == before


def test_a_full_allow_list_and_every_acl_fit_within_the_bounds(
    api: InProcessApi, root: MintedToken
) -> None:
    prefixes = [f"2001:db8:{i:x}::/48" for i in range(MAX_ALLOWED_IPS)]
    params = {"token_name": "wide", "whitelist_ip": prefixes, "acl": ["edit-dns", "passwd"]}
    assert len(json.dumps(params)) < MAX_BODY

    response = api.post(root, CREATE, data=params)

    assert response.json()["metadata"]["result"] == 1, response.text
    assert len(api.service.show("reseller", "wide", realm="whm").whitelist_ips) == 100


def test_an_oversized_query_string_is_refused_before_it_is_parsed(
    api: InProcessApi, root: MintedToken, parsed_networks: list[str]
) -> None:
    query = urlencode({"token_name": "x", "whitelist_ip": addresses(ATTACK)}, doseq=True)
    before = snapshot(api.service)

    status, body = api.post_raw(root, CREATE, query.encode())

    assert (status, body) == (414, {"error": f"query string too long (at most {MAX_BODY} bytes)"})
    assert len(parsed_networks) <= MAX_ALLOWED_IPS
    assert snapshot(api.service) == before


# -- the WSGI shell ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "status", "message"),
    [
        pytest.param("-1", 400, "invalid Content-Length", id="negative-length-reads-all"),
        pytest.param(None, 413, "request body too large", id="just-over-64-kib"),
    ],
)
def test_the_wsgi_shell_reads_no_more_than_the_bounded_body(
    api: InProcessApi, root: MintedToken, length: str | None, status: int, message: str
) -> None:
    body = b"token_name=x&pad=" + b"a" * 64 * 1024  # just over 64 KiB
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": CREATE,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": length or str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": root.header,
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(status)

    before = snapshot(api.service)

    chunks = ManagementWSGI(api.service, api.auth)(environ, start_response)

    assert started[0].startswith(str(status))
    assert message in json.loads(b"".join(chunks))["error"]
    assert snapshot(api.service) == before
