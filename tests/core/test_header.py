from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward import Credentials, MalformedCredentialsError, Realm
from tokenward.core.header import (
    MAX_HEADER_LENGTH,
    _parse_one,
    format_authorization,
    parse_authorization,
)

SECRET = "U7HMR63FGY292DQZ4H5BFH16JLYMO01M"


@pytest.mark.parametrize(
    ("value", "realm"),
    [
        pytest.param(f"cpanel alice:{SECRET}", Realm.CPANEL, id="cpanel"),
        pytest.param(f"whm root:{SECRET}", Realm.WHM, id="whm"),
        pytest.param(f"WHM root:{SECRET}", Realm.WHM, id="upper-case-scheme"),
        pytest.param(f"cPanel alice:{SECRET}", Realm.CPANEL, id="mixed-case-scheme"),
        pytest.param(f"cpanel alice:{SECRET}\r\n", Realm.CPANEL, id="trailing-crlf"),
        pytest.param(f"cpanel alice:{SECRET}  ", Realm.CPANEL, id="trailing-spaces"),
        pytest.param(f"cpanel   alice:{SECRET}", Realm.CPANEL, id="several-spaces-after-scheme"),
    ],
)
def test_well_formed_header_is_parsed(value: str, realm: Realm) -> None:
    credentials = parse_authorization(value)
    assert credentials is not None
    assert credentials.realm is realm
    assert credentials.secret == SECRET


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(f"Bearer {SECRET}", id="bearer"),
        pytest.param("Basic YWxpY2U6c2VjcmV0", id="basic"),
        pytest.param(f"cpanelx alice:{SECRET}", id="scheme-prefix-is-not-scheme"),
        pytest.param(f"Token alice:{SECRET}", id="other-scheme"),
    ],
)
def test_other_schemes_are_not_ours(value: str | None) -> None:
    assert parse_authorization(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("cpanel", id="scheme-only"),
        pytest.param("cpanel ", id="scheme-and-space"),
        pytest.param(f"cpanel :{SECRET}", id="empty-user"),
        pytest.param("cpanel alice:", id="empty-token"),
        pytest.param(f"cpanel alice{SECRET}", id="no-colon"),
        pytest.param(f"cpanel al ice:{SECRET}", id="inner-space"),
        pytest.param(f"cpanel alice:{SECRET[:16]} {SECRET[16:]}", id="space-in-token"),
        pytest.param(f"cpanel alice:{SECRET}\x00", id="nul"),
        pytest.param(f"cpanel alice\x07:{SECRET}", id="control-character"),
        pytest.param(f"cpanel alicé:{SECRET}", id="non-ascii-user"),
        pytest.param("cpanel alice:" + SECRET.lower(), id="lower-case-token"),
        pytest.param("cpanel alice:" + SECRET[:-1], id="short-token"),
        pytest.param("cpanel alice:" + SECRET + "A", id="long-token"),
        pytest.param(f"cpanel alice:{SECRET[:10]}:{SECRET[11:]}", id="colon-in-token"),
        pytest.param("cpanel " + "a" * MAX_HEADER_LENGTH + ":" + SECRET, id="oversized"),
        pytest.param("cpanel " + "a" * 200 + ":" + SECRET, id="oversized-user"),
    ],
)
def test_our_scheme_but_malformed_is_refused(value: str) -> None:
    with pytest.raises(MalformedCredentialsError):
        parse_authorization(value)


def test_several_authorization_headers_with_ours_are_refused() -> None:
    with pytest.raises(MalformedCredentialsError):
        parse_authorization([f"cpanel alice:{SECRET}", f"cpanel bob:{SECRET}"])


def test_several_foreign_authorization_headers_are_not_ours() -> None:
    assert parse_authorization(["Bearer x", "Basic y"]) is None


def test_user_is_split_at_the_first_colon() -> None:
    credentials = parse_authorization(f"cpanel alice:{SECRET}")
    assert credentials == Credentials(Realm.CPANEL, "alice", SECRET)


def test_format_round_trips_through_parse() -> None:
    value = format_authorization("whm", "root", SECRET)
    assert value == f"whm root:{SECRET}"
    assert parse_authorization(value) == Credentials(Realm.WHM, "root", SECRET)


def test_credentials_repr_hides_the_secret() -> None:
    credentials = parse_authorization(f"cpanel alice:{SECRET}")
    assert SECRET not in repr(credentials)


def test_malformed_error_message_never_contains_the_value() -> None:
    with pytest.raises(MalformedCredentialsError) as excinfo:
        parse_authorization(f"cpanel alice:{SECRET} extra")
    assert SECRET not in str(excinfo.value)


@given(st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=127))))
def test_parser_raises_nothing_but_its_own_error(value: str) -> None:
    with contextlib.suppress(MalformedCredentialsError):
        parse_authorization(value)


@given(
    scheme=st.sampled_from(["cpanel", "whm", "CPANEL", "Whm"]),
    user=st.text(min_size=0, max_size=40),
    rest=st.text(max_size=60),
)
def test_parser_on_our_scheme_returns_credentials_or_raises_malformed(
    scheme: str, user: str, rest: str
) -> None:
    value = f"{scheme} {user}:{rest}"
    try:
        credentials = parse_authorization(value)
    except MalformedCredentialsError:
        return
    assert credentials is not None
    assert credentials.user == user
    assert credentials.secret == rest.rstrip(" \t\r\n")


@given(st.lists(st.text(max_size=50), max_size=4))
def test_parser_on_header_lists_raises_nothing_but_its_own_error(values: list[str]) -> None:
    with contextlib.suppress(MalformedCredentialsError):
        parse_authorization(values)


def _outcome(parse: Callable[[str], Credentials | None], value: str) -> object:
    try:
        return parse(value)
    except MalformedCredentialsError:
        return MalformedCredentialsError


_NEAR = st.sampled_from(["", " ", "\t", "\r", "\n", "\r\n", "\x0b", ":", "\x00", "é", "\x7f"])
_ODD = st.sampled_from(list("az:-_ \t\x00\x7fé~"))


def _spoiled(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid part with one character replaced: the edge of the grammar."""
    return st.builds(
        lambda text, at, odd: text[: at % len(text)] + odd + text[at % len(text) + 1 :],
        valid,
        st.integers(min_value=0),
        _ODD,
    )


_USERS = st.from_regex(r"[\x21-\x39\x3b-\x7e]{1,128}", fullmatch=True)
_SECRETS = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=32, max_size=32)
_VALID_PARTS = {
    "lead": st.sampled_from(["", " ", "\t", " \t "]),
    "scheme": st.sampled_from(["cpanel", "whm", "CPANEL", "wHm", "cPanel"]),
    "gap": st.sampled_from([" ", "   "]),
    "user": _USERS,
    "secret": _SECRETS,
    "trail": st.sampled_from(["", "\r\n", " \t", "\n"]),
}
_EDGE_PARTS = {
    "lead": _NEAR,
    "scheme": st.sampled_from(
        ["cpane", "cpanell", "bearer", "cpanel\t", "wh", "\uff57hm", "cpanel:"]
    ),
    "gap": st.sampled_from(["", "\t", " \t", "\r", "\x0b"]),
    "user": st.one_of(_spoiled(_USERS), st.just("u" * 129), st.just(""), st.text(max_size=8)),
    "secret": st.one_of(
        _spoiled(_SECRETS),
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=31, max_size=33),
    ),
    "trail": st.one_of(_NEAR, st.text(alphabet=" \t\r\n", min_size=900, max_size=1100)),
}


@pytest.mark.parametrize("edge", list(_EDGE_PARTS))
@given(data=st.data())
def test_the_one_match_fast_path_agrees_with_the_step_by_step_grammar(
    edge: str, data: st.DataObject
) -> None:
    """Every part valid but one, which sits at the edge of the grammar."""
    parts = {
        name: data.draw(_EDGE_PARTS[name] if name == edge else valid, label=name)
        for name, valid in _VALID_PARTS.items()
    }
    value = "{lead}{scheme}{gap}{user}:{secret}{trail}".format(**parts)
    assert _outcome(parse_authorization, value) == _outcome(_parse_one, value)


@given(st.text(max_size=200))
def test_the_fast_path_agrees_with_the_grammar_on_any_text(value: str) -> None:
    assert _outcome(parse_authorization, value) == _outcome(_parse_one, value)
