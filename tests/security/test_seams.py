"""Attacks on the seams, generated: every spelling of a protected path, every set of
forwarding headers, through every shell, adapter, mount point and forward auth.

A spelling is built from ``/dns/zones`` by steps that some reader undoes (a dot segment, a
detour through the public ``/health``, a servlet's ``..;``, a doubled slash, a backslash,
percent-encoding once or twice, a case change), so every one of them *means* ``/dns/zones``
to some backend. None may be served without a token holding ``edit-dns``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.security.shells import Shell, asgi_call, build_shells, django_shells

from tokenward import MemoryStore, Rule, Settings, TokenStore, open_store
from tokenward.core.network import PROXY_HEADERS, ProxyHeader
from tokenward.server import build_server
from tokenward.testing import FAST_ARGON2, FrozenClock, MintedToken, TokenFactory

PEER = "192.0.2.10"  # a client connecting directly
PROXY = "127.0.0.1"  # the trusted reverse proxy
REAL = "198.51.100.7"  # the client behind the proxy, as the proxy saw it
SPOOFED = "203.0.113.0/24"  # what a client claims in its own headers

RULES = (Rule.public("/health"), Rule.require("/dns", "edit-dns"))
# Everything is public but /dns: a spelling judged as anything else gets through.
SEAM_SETTINGS = Settings(
    rules=RULES, default_access="public", trusted_proxies=("127.0.0.0/8",), argon2=FAST_ARGON2
)
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- spellings of /dns/zones ------------------------------------------------------------

DETOURS = st.sampled_from(
    [
        ["."],
        ["health", ".."],
        ["health", "..;"],  # Tomcat and Jetty read "..;" as ".."
        ["health;v=1", "..;x"],
        ["x", ".."],
        ["health", "x", "..", ".."],
    ]
)


@st.composite
def segment(draw: st.DrawFn, name: str) -> str:
    text = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    return text + draw(st.sampled_from(["", "", ";jsessionid=1", ";"]))


@st.composite
def spellings(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for name in ("dns", "zones"):
        for _ in range(draw(st.integers(0, 2))):
            parts.extend(draw(DETOURS))
        parts.append(draw(segment(name)))
    path = ""
    for part in parts:
        path += draw(st.sampled_from(["/", "/", "//", "\\", "/./"])) + part
    path = "/" + path.lstrip("/\\")  # the request-target itself starts with "/"
    path += draw(st.sampled_from(["", "/", "/.", "/x/..", "//"]))
    for _ in range(draw(st.integers(0, 2))):
        path = draw(encoded(path))
    return path


@st.composite
def encoded(draw: st.DrawFn, path: str) -> str:
    """Percent-encode some characters after the leading slash (``%`` too: double encoding)."""
    chosen = draw(st.lists(st.booleans(), min_size=len(path) - 1, max_size=len(path) - 1))
    return path[0] + "".join(
        f"%{ord(c):02X}" if pick else c for c, pick in zip(path[1:], chosen, strict=True)
    )


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> tuple[TokenStore, FrozenClock]:
    return MemoryStore(), FrozenClock()


@pytest.fixture(scope="module")
def tokens(world: tuple[TokenStore, FrozenClock]) -> dict[str, MintedToken]:
    store, clock = world
    factory = TokenFactory(store, clock)
    return {
        "narrow": factory.mint(acls=["list-accts"]),
        "dns": factory.mint(acls=["edit-dns"]),
        "near": factory.mint(acls=["all"], whitelist_ips=[REAL]),
        "far": factory.mint(acls=["all"], whitelist_ips=[SPOOFED]),
        "readonly": factory.mint(acls=["all"], readonly=True),
    }


SHELLS = build_shells(MemoryStore(), SEAM_SETTINGS, FrozenClock())  # names only, for ids


@pytest.fixture(scope="module", params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest, world: tuple[TokenStore, FrozenClock]) -> Shell:
    store, clock = world
    return build_shells(store, SEAM_SETTINGS, clock)[request.param]


def ask(shell: Shell, target: str, token: MintedToken | None, **headers: str) -> int:
    if token is not None:
        headers["Authorization"] = token.header
    peer = PROXY if shell.forward else PEER
    return shell.send(shell.mount + target, headers, peer)


# -- the path rule ------------------------------------------------------------------------


@HYPOTHESIS
@given(target=spellings())
def test_no_spelling_of_a_protected_path_is_served_without_the_token_and_acl(
    shell: Shell, tokens: dict[str, MintedToken], target: str
) -> None:
    assert ask(shell, target, None) in (400, 401), target
    assert ask(shell, target, tokens["narrow"]) in (400, 403), target
    assert ask(shell, target, tokens["dns"]) not in (401, 403), target


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("//dns/zones", id="double-slash-first-segment"),
        pytest.param("/health/../dns/zones", id="dot-dot-through-public"),
        pytest.param("/health/%2e%2e/dns/zones", id="encoded-dots"),
        pytest.param("/health/..%2fdns/zones", id="encoded-slash"),
        pytest.param("/health/.%2e/dns/zones", id="half-encoded-dots"),
        pytest.param("/health/..;/dns/zones", id="servlet-dot-dot-semicolon"),
        pytest.param("/health\\..\\dns\\zones", id="backslashes"),
        pytest.param("/DNS/zones", id="case"),
        pytest.param("/health/%252e%252e/dns/zones", id="double-encoded"),
    ],
)
def test_known_bypasses_are_refused_in_every_shell(
    shell: Shell, tokens: dict[str, MintedToken], target: str
) -> None:
    assert ask(shell, target, None) in (400, 401)
    assert ask(shell, target, tokens["narrow"]) in (400, 403)


def test_the_public_path_stays_public_and_rules_apply_below_the_mount_point(
    shell: Shell, tokens: dict[str, MintedToken]
) -> None:
    public = 401 if shell.routed and not shell.mount else 200  # FastAPI: the route requires
    assert ask(shell, "/health", None) == public
    assert ask(shell, "/dns/zones", tokens["narrow"]) == 403
    assert ask(shell, "/dns/zones", tokens["dns"]) == 200


@HYPOTHESIS
@given(
    control=st.sampled_from(["%0a", "%0d", "%00", "%250a", "%1b", "%7f"]),
    where=st.sampled_from(["/health{}", "/dns{}/zones", "/{}health"]),
)
def test_a_control_character_in_any_reading_is_refused_with_400(
    shell: Shell, tokens: dict[str, MintedToken], control: str, where: str
) -> None:
    # A router that runs first may not match it at all (Starlette's Mount, FastAPI: 404).
    expected = (400, 404) if shell.routed else (400,)
    assert ask(shell, where.format(control), tokens["dns"]) in expected


@pytest.mark.parametrize("name", sorted(n for n, s in SHELLS.items() if s.forward))
@pytest.mark.parametrize("target", ["http://example.com/dns/zones", "*", "dns/zones", ""])
def test_a_uri_that_is_not_origin_form_is_refused_by_forward_auth(
    world: tuple[TokenStore, FrozenClock], tokens: dict[str, MintedToken], name: str, target: str
) -> None:
    store, clock = world
    shell = build_shells(store, SEAM_SETTINGS, clock)[name]
    assert shell.send(target, {"Authorization": tokens["dns"].header}, PROXY) == 400


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "PATCH", "DELETE", "post", "PROPFIND", "HEAD", "GET", "OPTIONS"]
)
def test_a_read_only_token_writes_nothing_through_any_shell(
    shell: Shell, tokens: dict[str, MintedToken], method: str
) -> None:
    """The method is judged where the path is: in every shell, adapter, mount point and
    forward auth (where it comes from X-Original-Method)."""
    headers = {":method": method, "Authorization": tokens["readonly"].header}
    status = shell.send(shell.mount + "/dns/zones", headers, PROXY if shell.forward else PEER)
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        assert status not in (401, 403), method
    else:  # FastAPI's router answers 405 to a method its GET route does not take, first
        assert status in ((403, 405) if shell.routed and not shell.mount else (403,)), method


# -- the proxy rule -----------------------------------------------------------------------

ADDRESSES = st.ip_addresses(v=4, network=SPOOFED).map(str)
CLIENT_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Forwarded-For": st.lists(ADDRESSES, min_size=1, max_size=3).map(", ".join),
        "X-Real-IP": ADDRESSES,
        "Forwarded": ADDRESSES.map(lambda a: f"for={a}"),
        "X-Forwarded-Proto": st.sampled_from(["https", "http", "wss"]),
    },
)


def proxied(client: dict[str, str], header: ProxyHeader) -> dict[str, str]:
    """What a correctly configured proxy passes on: the client's headers, with the one it
    is configured to set written over (``X-Real-IP``) or appended to (the lists)."""
    out = dict(client)
    if header == "x-real-ip":
        out["X-Real-IP"] = REAL
    elif header == "x-forwarded-for":
        out["X-Forwarded-For"] = ", ".join(filter(None, [client.get("X-Forwarded-For"), REAL]))
    else:
        out["Forwarded"] = ", ".join(filter(None, [client.get("Forwarded"), f"for={REAL}"]))
    out["X-Forwarded-Proto"] = "http"
    return out


@pytest.fixture(scope="module", params=PROXY_HEADERS)
def proxy_shells(
    request: pytest.FixtureRequest, world: tuple[TokenStore, FrozenClock]
) -> tuple[ProxyHeader, dict[str, Shell]]:
    store, clock = world
    configured = Settings(
        rules=RULES,
        trusted_proxies=("127.0.0.0/8",),
        proxy_header=request.param,
        argon2=FAST_ARGON2,
    )
    return request.param, build_shells(store, configured, clock)


@HYPOTHESIS
@given(client=CLIENT_HEADERS)
def test_no_client_header_moves_the_client_address(
    proxy_shells: tuple[ProxyHeader, dict[str, Shell]],
    tokens: dict[str, MintedToken],
    client: dict[str, str],
) -> None:
    header, shells = proxy_shells
    near, far = tokens["near"].header, tokens["far"].header
    through_proxy = proxied(client, header)
    for name, shell in shells.items():
        target = shell.mount + "/whoami"
        # A client connecting directly: its own forwarding headers count for nothing.
        assert shell.send(target, {**client, "Authorization": far}, PEER) == 401, name
        # Behind the proxy: the address is the one the proxy wrote, whatever else came.
        assert shell.send(target, {**through_proxy, "Authorization": near}, PROXY) == 200, name
        assert shell.send(target, {**through_proxy, "Authorization": far}, PROXY) == 401, name


@HYPOTHESIS
@given(client=CLIENT_HEADERS)
def test_a_client_cannot_claim_https(
    world: tuple[TokenStore, FrozenClock], tokens: dict[str, MintedToken], client: dict[str, str]
) -> None:
    store, clock = world
    for header in PROXY_HEADERS:
        strict = Settings(
            trusted_proxies=("127.0.0.0/8",),
            proxy_header=header,
            https_only=True,
            argon2=FAST_ARGON2,
        )
        for name, shell in build_shells(store, strict, clock).items():
            with_token = {**client, "Authorization": tokens["dns"].header}
            assert shell.send(shell.mount + "/x", with_token, PEER) == 401, name
            behind = {**proxied(client, header), "Authorization": tokens["dns"].header}
            assert shell.send(shell.mount + "/x", behind, PROXY) == 401, name


# -- the log lines ------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@HYPOTHESIS
@given(target=spellings(), control=st.sampled_from(["%0a", "%0d%0a", "%1b[2J", "%e2%80%a8"]))
def test_no_log_line_holds_a_secret_or_a_raw_control_character(
    shell: Shell,
    tokens: dict[str, MintedToken],
    caplog: pytest.LogCaptureFixture,
    target: str,
    control: str,
) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tokenward"):
        forged = f"{target}{control}2026-12-02 INFO forged"
        ask(shell, forged, tokens["narrow"])
        ask(shell, target + "?token=" + tokens["dns"].secret, tokens["narrow"])
        user = {"Authorization": "cpanel al\x7fice:" + tokens["dns"].secret}
        shell.send(shell.mount + "/dns/zones", user, PROXY if shell.forward else PEER)
    secrets = [token.secret for token in tokens.values()]
    for record in caplog.records:
        line = record.getMessage()
        assert _CONTROL.search(line) is None, line
        assert not any(secret in line for secret in secrets), line


# -- Django, from its example project ------------------------------------------------------
# Its rules make /health public and everything else need a token; /dns/zones' ACL is the
# view's own decorator, so a spelling its router cannot match is a 404, not a 403.


@pytest.fixture(scope="module")
def django(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Shell], dict[str, MintedToken]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('django') / 'seams.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOKENWARD_STORE", url)
        shells = django_shells()
        factory = TokenFactory(open_store(url), FrozenClock())
        yield (
            shells,
            {
                "narrow": factory.mint(acls=["list-accts"]),
                "dns": factory.mint(acls=["edit-dns"]),
            },
        )


@HYPOTHESIS
@given(target=spellings())
def test_django_never_serves_a_spelling_of_a_protected_path_without_the_acl(
    django: tuple[dict[str, Shell], dict[str, MintedToken]], target: str
) -> None:
    shells, minted = django
    for name, shell in shells.items():
        assert ask(shell, target, None) in (400, 401), name
        assert ask(shell, target, minted["narrow"]) in (400, 403, 404), name


def test_serve_believes_the_x_real_ip_nginx_sets_not_the_clients_forwarded_for(
    world: tuple[TokenStore, FrozenClock], tokens: dict[str, MintedToken]
) -> None:
    """The nginx block in docs/deploy.md sets ``X-Real-IP`` in the auth subrequest, which
    carries the client's own ``X-Forwarded-For`` along unless told otherwise."""
    store, _ = world
    server = build_server(store, argon2=FAST_ARGON2)
    for token, status in (("far", 401), ("near", 200)):
        headers = {
            "X-Original-URI": "/whoami",
            "X-Original-Method": "GET",
            "X-Real-IP": REAL,
            "X-Forwarded-For": "203.0.113.9",  # the client's own claim, passed along
            "Authorization": tokens[token].header,
        }
        assert asgi_call(server, "/auth", headers, PROXY) == status
