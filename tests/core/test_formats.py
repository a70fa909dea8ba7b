"""The token formats: cPanel's (the default) and the prefixed one scanners recognise, what
each guarantees, and how the Authorization header and the service treat them."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import pytest

from tokenward import (
    ConfigurationError,
    FailureReason,
    MalformedCredentialsError,
    MemoryStore,
    Realm,
    RequestInfo,
    Settings,
    TokenService,
    ValidationError,
)
from tokenward.core import formats
from tokenward.core.formats import (
    BASE62,
    CHECKSUM_LENGTH,
    PREFIXED_LENGTH,
    PREFIXES,
    RANDOM_LENGTH,
    Recognised,
    checksum,
    find_tokens,
    generate,
    recognise,
)
from tokenward.core.header import parse_authorization
from tokenward.core.tokens import TokenRecord, is_well_formed_secret
from tokenward.guard import Guard
from tokenward.server import build_server
from tokenward.testing import FAST_ARGON2, FrozenClock, fast_settings

CPANEL_SECRET = "U7HMR63FGY292DQZ4H5BFH16JLYMO01M"


def _other_char(char: str) -> str:
    return BASE62[(BASE62.index(char) + 1) % len(BASE62)]


def _spoil(secret: str, at: int) -> str:
    return secret[:at] + _other_char(secret[at]) + secret[at + 1 :]


# -- the formats ------------------------------------------------------------------------


def test_the_cpanel_format_is_the_default_and_keeps_cpanels_shape() -> None:
    secret = generate(Realm.WHM)
    assert is_well_formed_secret(secret)
    assert recognise(secret) == Recognised("cpanel", None)
    assert Settings().token_format == "cpanel"


@pytest.mark.parametrize("realm", list(Realm))
def test_a_prefixed_token_names_its_realm_and_carries_its_checksum(realm: Realm) -> None:
    secret = generate(realm, "prefixed")
    prefix = PREFIXES[realm]
    assert secret.startswith(prefix)
    assert len(secret) == PREFIXED_LENGTH == len(prefix) + RANDOM_LENGTH + CHECKSUM_LENGTH
    assert set(secret[len(prefix) :]) <= set(BASE62)
    assert secret[-CHECKSUM_LENGTH:] == checksum(secret[:-CHECKSUM_LENGTH])
    assert recognise(secret) == Recognised("prefixed", realm)


def test_the_prefixes_are_distinct_equally_long_and_never_of_the_cpanel_alphabet() -> None:
    assert len(set(PREFIXES.values())) == len(Realm)
    assert len({len(prefix) for prefix in PREFIXES.values()}) == 1
    assert all(prefix.islower() and prefix.endswith("_") for prefix in PREFIXES.values())


def test_a_prefixed_token_keeps_at_least_160_bits_of_entropy() -> None:
    assert RANDOM_LENGTH * math.log2(len(BASE62)) >= 160
    secrets_ = {generate(Realm.CPANEL, "prefixed") for _ in range(500)}
    assert len(secrets_) == 500
    # Every base62 character turns up in the random parts: the alphabet is used whole.
    assert set("".join(s[5:-CHECKSUM_LENGTH] for s in secrets_)) == set(BASE62)


def test_the_checksum_is_the_crc32_of_prefix_and_random_part_in_base62() -> None:
    head = "twcp_" + "a" * RANDOM_LENGTH
    value = zlib.crc32(head.encode())
    digits = checksum(head)
    assert len(digits) == CHECKSUM_LENGTH
    assert sum(BASE62.index(c) * 62**i for i, c in enumerate(reversed(digits))) == value
    assert 62**CHECKSUM_LENGTH > 2**32


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(CPANEL_SECRET.lower(), id="lower-case-cpanel"),
        pytest.param(CPANEL_SECRET[:-1], id="short-cpanel"),
        pytest.param("twcp_" + "A" * 36, id="right-shape-wrong-checksum"),
        pytest.param("twxx_" + "A" * 36, id="unknown-prefix"),
        pytest.param("ghp_" + "A" * 36, id="another-vendors-token"),
        pytest.param("twcp_" + "A" * 35, id="short-prefixed"),
        pytest.param("twcp_" + "A" * 29 + "-" + "A" * 6, id="not-base62"),
    ],
)
def test_what_is_no_token_is_not_recognised(text: str) -> None:
    assert recognise(text) is None


def test_any_one_character_changed_breaks_the_checksum() -> None:
    secret = generate(Realm.CPANEL, "prefixed")
    for at in range(len("twcp_"), PREFIXED_LENGTH):
        assert recognise(_spoil(secret, at)) is None, at


def test_changing_the_realm_letters_breaks_the_checksum_too() -> None:
    secret = generate(Realm.CPANEL, "prefixed")
    assert recognise(PREFIXES[Realm.WHM] + secret[5:]) is None


def test_an_unknown_format_is_refused_everywhere_it_can_be_named() -> None:
    with pytest.raises(ValidationError, match="prefixed"):
        generate(Realm.CPANEL, "ghp")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="token_format"):
        Settings(token_format="ghp")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="token_format"):
        Settings.from_mapping({"token_format": "base64"})
    with pytest.raises(ValidationError):
        TokenService(MemoryStore(), token_format="ghp")  # type: ignore[arg-type]


def test_the_format_is_a_setting_read_like_every_other() -> None:
    assert Settings.from_mapping({"token_format": "prefixed"}).token_format == "prefixed"
    with Guard.from_env(
        {"TOKENWARD_STORE": "memory://", "TOKENWARD_TOKEN_FORMAT": "prefixed"}
    ) as g:
        assert g.settings.token_format == "prefixed"


# -- the Authorization header -----------------------------------------------------------


@pytest.mark.parametrize("realm", list(Realm))
def test_the_header_accepts_both_formats_in_either_realm(realm: Realm) -> None:
    prefixed = generate(realm, "prefixed")
    for secret in (prefixed, CPANEL_SECRET):
        for value in (
            f"{realm.value} alice:{secret}",
            f" {realm.value.upper()}  alice:{secret}\r\n",
        ):
            credentials = parse_authorization(value)
            assert credentials is not None
            assert (credentials.realm, credentials.secret) == (realm, secret)


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        pytest.param(lambda s: _spoil(s, 20), "checksum", id="random-part-changed"),
        pytest.param(lambda s: _spoil(s, PREFIXED_LENGTH - 1), "checksum", id="checksum-changed"),
        pytest.param(lambda s: "twwh_" + s[5:], "checksum", id="realm-letters-changed"),
        pytest.param(lambda s: generate(Realm.WHM, "prefixed"), "whm", id="other-realms-token"),
        pytest.param(lambda s: s[:-1], "41 characters", id="one-short"),
        pytest.param(lambda s: s + "A", "41 characters", id="one-long"),
    ],
)
def test_a_spoiled_prefixed_token_is_malformed_and_never_named(
    spoil: Callable[[str], str], detail: str
) -> None:
    sent = spoil(generate(Realm.CPANEL, "prefixed"))
    with pytest.raises(MalformedCredentialsError, match=detail) as excinfo:
        parse_authorization(f"cpanel alice:{sent}")
    assert sent not in str(excinfo.value)


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, digest: str) -> TokenRecord | None:
        self.reads += 1
        return super().get(digest)


def test_a_bad_checksum_is_a_401_before_any_store_read(clock: FrozenClock) -> None:
    store = _CountingStore()
    secret = generate(Realm.CPANEL, "prefixed")
    with Guard(store, fast_settings(), clock=clock, background_flush=False) as guard:
        decision = guard.authenticator.authenticate(
            RequestInfo("GET", "/", (f"cpanel alice:{_spoil(secret, 9)}",), "192.0.2.1")
        )
    assert decision.reason is FailureReason.MALFORMED
    assert decision.refusal is not None
    assert decision.refusal.status == 401
    assert store.reads == 0


# -- minting ----------------------------------------------------------------------------


@pytest.mark.parametrize("realm", list(Realm))
def test_the_service_mints_and_rotates_in_its_format_and_both_authenticate(
    realm: Realm, clock: FrozenClock
) -> None:
    store = MemoryStore()
    cpanel = TokenService(store, argon2=FAST_ARGON2, clock=clock).create("root", "old", realm=realm)
    service = TokenService(store, argon2=FAST_ARGON2, clock=clock, token_format="prefixed")
    created = service.create("root", "new", realm=realm)
    assert recognise(created.secret) == Recognised("prefixed", realm)
    rotated = service.rotate("root", "old", realm=realm)
    assert recognise(rotated.secret) == Recognised("prefixed", realm)
    with Guard(store, fast_settings(), clock=clock, background_flush=False) as guard:
        for secret in (created.secret, rotated.secret):
            request = RequestInfo("GET", "/", (f"{realm.value} root:{secret}",), "192.0.2.1")
            assert guard.authenticator.authenticate(request).allowed
    assert is_well_formed_secret(cpanel.secret)


# -- finding ----------------------------------------------------------------------------


def test_find_tokens_reports_where_each_secret_starts_and_what_it_is() -> None:
    prefixed = generate(Realm.WHM, "prefixed")
    text = f"CPANEL_TOKEN={CPANEL_SECRET}\ncurl -H 'Authorization: whm root:{prefixed}'\n"
    found = find_tokens(text)
    assert [(f.start, f.secret, f.recognised) for f in found] == [
        (text.index(CPANEL_SECRET), CPANEL_SECRET, Recognised("cpanel", None)),
        (text.index(prefixed), prefixed, Recognised("prefixed", Realm.WHM)),
    ]
    assert all(f.secret not in repr(f) for f in found)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"id = {CPANEL_SECRET}", id="cpanel-shape-without-context"),
        pytest.param("CPANEL_MD5=D41D8CD98F00B204E9800998ECF8427E", id="hex-digest"),
        pytest.param("cpanel alice:" + "X" * 32, id="placeholder"),
        pytest.param("token=twcp_" + "A" * 36, id="prefixed-shape-bad-checksum"),
    ],
)
def test_find_tokens_skips_what_is_not_a_token(text: str) -> None:
    assert find_tokens(text) == []


def test_all_shapes_finds_cpanel_format_words_anywhere_but_digests() -> None:
    text = f"id = {CPANEL_SECRET}, md5 D41D8CD98F00B204E9800998ECF8427E"
    assert [f.secret for f in find_tokens(text, all_shapes=True)] == [CPANEL_SECRET]


def test_the_entropy_floor_never_drops_a_real_token() -> None:
    lowest = min(
        formats.shannon_entropy(generate(Realm.CPANEL, token_format))
        for token_format in formats.TOKEN_FORMATS
        for _ in range(2000)
    )
    assert lowest > formats.MIN_ENTROPY + 0.3


def test_a_guard_mints_in_the_format_its_settings_name() -> None:
    settings = Settings(argon2=FAST_ARGON2, token_format="prefixed")
    with Guard(MemoryStore(), settings, clock=FrozenClock(), background_flush=False) as guard:
        created = guard.service.create("alice", "ci", realm=Realm.WHM)
    assert recognise(created.secret) == Recognised("prefixed", Realm.WHM)


def test_serve_mints_in_the_format_it_is_given() -> None:
    server = build_server(MemoryStore(), argon2=FAST_ARGON2, token_format="prefixed")
    try:
        created = server.authenticator.guard.service.create("alice", "ci")
    finally:
        server.authenticator.close()
    assert recognise(created.secret) == Recognised("prefixed", Realm.CPANEL)
