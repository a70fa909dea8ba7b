"""The readings of a path, the path below a mount point, and escaping for log lines."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tokenward.asgi import route_path
from tokenward.audit import printable
from tokenward.core.paths import (
    MAX_PATH_LENGTH,
    MAX_SEGMENTS,
    is_plain,
    readings,
    remove_dot_segments,
)
from tokenward.core.settings import Rule, Settings
from tokenward.forward_auth import uri_path

SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=8)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("//secret/data", "/secret/data", id="merged-slashes"),
        pytest.param("/a/b/../../health", "/health", id="dot-dot"),
        pytest.param("/a/%2e%2e/health", "/health", id="encoded-dots"),
        pytest.param("/a/..%2fhealth", "/health", id="encoded-slash"),
        pytest.param("/health/..;/x", "/x", id="servlet-parameter"),
        pytest.param("/a\\..\\x", "/x", id="backslash"),
        pytest.param("/a/%252e%252e/x", "/x", id="double-encoded"),
        pytest.param("/x/.", "/x/", id="trailing-dot-keeps-slash"),
    ],
)
def test_a_path_is_also_read_as_a_backend_would_normalise_it(path: str, expected: str) -> None:
    found = readings(path)
    assert found is not None
    assert path in found or path.replace("\\", "/") in found
    assert expected in found


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/a%0ab", id="encoded-newline"),
        pytest.param("/a\nb", id="raw-newline"),
        pytest.param("/a%00", id="nul"),
        pytest.param("/a%250d", id="double-encoded-cr"),
        pytest.param("http://host/a", id="absolute-form"),
        pytest.param("*", id="asterisk"),
        pytest.param("", id="empty"),
        pytest.param("/" + "a" * MAX_PATH_LENGTH, id="too-long"),
    ],
)
def test_a_path_no_reading_can_make_safe_is_refused(path: str) -> None:
    assert readings(path) is None


def test_the_work_of_reading_a_path_is_bounded_but_a_plain_path_is_not_limited() -> None:
    many = "/a" * MAX_SEGMENTS
    assert readings(many) == frozenset((many,))  # plain: one reading, any number of segments
    assert readings(many + "/..") is None  # several readings: at most MAX_SEGMENTS segments
    assert readings("/a%2f" * MAX_SEGMENTS) is None  # counted after decoding
    assert readings("/a" * (MAX_SEGMENTS - 2) + "/..") is not None


@given(st.lists(SEGMENT, max_size=6).map(lambda parts: "/" + "/".join(parts)))
def test_a_plain_path_has_exactly_one_reading(path: str) -> None:
    assume("/." not in path)  # a dot segment or a hidden name is not plain
    assert is_plain(path)
    assert readings(path) == frozenset((path,))


@given(st.text(alphabet="/.%2eEfF;\\abx", max_size=24))
def test_every_reading_is_rooted_and_free_of_dot_segments_once_resolved(path: str) -> None:
    found = readings("/" + path)
    assert found is not None
    for reading in found:
        assert reading.startswith("/")
        resolved = remove_dot_segments(reading)
        assert "/../" not in resolved + "/"
        assert "/./" not in resolved + "/"


@pytest.mark.parametrize(
    ("target", "strictest"),
    [
        pytest.param("/health/../dns/zones", ("token", frozenset({"edit-dns"})), id="dot-dot"),
        pytest.param("/DNS/zones", ("token", frozenset({"edit-dns"})), id="case"),
        pytest.param("/Health", ("public", frozenset()), id="case-of-a-public-path"),
        pytest.param("/health//dns", ("public", frozenset()), id="still-below-health"),
        pytest.param("/health/%2e%2e", ("public", frozenset()), id="dot-dot-to-root-is-public"),
    ],
)
def test_the_strictest_reading_decides(target: str, strictest: tuple[str, frozenset[str]]) -> None:
    settings = Settings(
        rules=(Rule.public("/health"), Rule.public("/Health"), Rule.require("/dns", "edit-dns")),
        default_access="public",
    )
    assert settings.requirement("GET", target) == strictest


def test_head_is_judged_as_get_too() -> None:
    settings = Settings(rules=(Rule.require("/x", "edit-dns", methods=["GET"]),))
    assert settings.requirement("HEAD", "/x") == ("token", frozenset({"edit-dns"}))


@pytest.mark.parametrize(
    ("path", "root", "routed"),
    [
        pytest.param("/api/dns/zones", "/api", "/dns/zones", id="mounted"),
        pytest.param("/api", "/api", "/", id="mount-point-itself"),
        pytest.param("/dns/zones", "/api", "/dns/zones", id="already-relative"),
        pytest.param("/apix/dns", "/api", "/apix/dns", id="not-a-segment-boundary"),
        pytest.param("/dns", "", "/dns", id="top-level"),
    ],
)
def test_rules_see_the_path_below_the_mount_point(path: str, root: str, routed: str) -> None:
    assert route_path({"path": path, "root_path": root}) == routed


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        pytest.param("//secret/data?x=1", "//secret/data", id="double-slash-is-a-path"),
        pytest.param("/a%2fb#frag", "/a%2fb", id="undecoded"),
        pytest.param("http://h/x", "http://h/x", id="absolute-kept-to-be-refused"),
    ],
)
def test_forward_auth_takes_the_uri_path_as_sent(uri: str, path: str) -> None:
    assert uri_path(uri) == path


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        pytest.param("/a\nb", "/a\\x0ab", id="newline"),
        pytest.param("/a\r\n", "/a\\x0d\\x0a", id="crlf"),
        pytest.param("\x1b[2J", "\\x1b[2J", id="escape"),
        pytest.param("a\u2028b", "a\\u2028b", id="line-separator"),
        pytest.param("a\\x0ab", "a\\\\x0ab", id="a-backslash-cannot-fake-an-escape"),
        pytest.param("/plain/é", "/plain/é", id="printable-unchanged"),
    ],
)
def test_log_values_are_escaped(value: str, logged: str) -> None:
    assert printable(value) == logged
