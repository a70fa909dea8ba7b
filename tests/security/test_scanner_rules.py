"""The secret-scanner rules shipped in docs/rules/ (gitleaks, trufflehog).

Neither tool installs from PyPI, so the rules are checked against what the tools require of
a config (the fields they read and validate), and their regexes are run as RE2 (google-re2:
the engine Go's regexp implements, which both tools use) the way each tool applies them:
keywords first, then the regex, the secret group, the entropy floor and the allowlist. They
must find every real token planted in sample files of every kind, nothing in text that holds
none, and exactly what ``tokenward scan`` finds (``core.formats`` is their one source)."""

from __future__ import annotations

import base64
import json
import random
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml

from tokenward import Realm
from tokenward.core import formats
from tokenward.core.formats import find_tokens, generate

RULES = Path(__file__).parents[2] / "docs" / "rules"
GITLEAKS_RULE_KEYS = {
    "id", "description", "regex", "path", "secretGroup", "entropy", "keywords", "tags",
    "allowlists", "required", "skipReport",
}  # fmt: skip
GITLEAKS_ALLOWLIST_KEYS = {
    "description", "condition", "commits", "paths", "regexTarget", "regexes", "stopwords",
}  # fmt: skip
TRUFFLEHOG_DETECTOR_KEYS = {
    "name", "description", "keywords", "regex", "verify", "entropy", "exclude_words",
    "exclude_regexes_capture", "exclude_regexes_match", "primary_regex_name",
}  # fmt: skip

Scanner = Callable[[str], set[str]]  # text -> the secrets a tool reports


def gitleaks() -> dict[str, Any]:
    with (RULES / "gitleaks.toml").open("rb") as file:
        return tomllib.load(file)


def trufflehog() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((RULES / "trufflehog.yaml").read_text())
    return loaded


def rule(rule_id: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = gitleaks()["rules"]
    return next(r for r in rules if r["id"] == rule_id)


def detector(name: str) -> dict[str, Any]:
    detectors: list[dict[str, Any]] = trufflehog()["detectors"]
    return next(d for d in detectors if d["name"] == name)


# -- the configs, as the tools read them ------------------------------------------------


def test_the_gitleaks_config_has_what_gitleaks_validates() -> None:
    config = gitleaks()
    assert set(config) <= {"title", "description", "extend", "rules", "allowlists"}
    assert config["extend"] == {"useDefault": True}  # not together with extend.path
    ids = [r["id"] for r in config["rules"]]
    assert len(ids) == len(set(ids)) == 2
    for entry in config["rules"]:
        assert set(entry) <= GITLEAKS_RULE_KEYS, entry["id"]  # gitleaks ignores a typo
        assert entry["id"].strip()
        assert entry["description"].strip()
        compiled = re2.compile(entry["regex"])
        assert 1 <= entry["secretGroup"] <= compiled.groups
        assert entry["keywords"]
        assert all(k == k.lower() and k for k in entry["keywords"])
        assert isinstance(entry["entropy"], float)
        for allowlist in entry.get("allowlists", []):
            assert set(allowlist) <= GITLEAKS_ALLOWLIST_KEYS
            checks = ("commits", "paths", "regexes", "stopwords")
            assert any(allowlist.get(check) for check in checks)  # gitleaks refuses none
            for pattern in allowlist.get("regexes", []) + allowlist.get("paths", []):
                re2.compile(pattern)


def test_the_trufflehog_config_has_what_trufflehog_validates() -> None:
    config = trufflehog()
    assert set(config) == {"detectors"}
    names = [d["name"] for d in config["detectors"]]
    assert len(names) == len(set(names)) == 2
    for entry in config["detectors"]:
        assert set(entry) <= TRUFFLEHOG_DETECTOR_KEYS, entry["name"]
        assert entry["keywords"]
        assert all(isinstance(k, str) and k for k in entry["keywords"])
        assert isinstance(entry["regex"], dict)
        assert entry["regex"]
        for pattern in entry["regex"].values():
            assert re2.compile(pattern).groups >= 1  # trufflehog reports group 1
        for pattern in entry.get("exclude_regexes_capture", []):
            re2.compile(pattern)


def test_the_rules_regexes_are_those_of_tokenward_core_formats() -> None:
    """One source: change a pattern in ``core.formats`` and this names the file to update."""
    digest = f"^{formats.DIGEST_PATTERN}$"
    prefixed, cpanel = rule("tokenward-prefixed-token"), rule("tokenward-cpanel-format-token")
    assert prefixed["regex"] == formats.PREFIXED_REGEX
    assert cpanel["regex"] == formats.CONTEXT_REGEX
    assert prefixed["entropy"] == cpanel["entropy"] == formats.MIN_ENTROPY
    assert [a["regexes"] for a in cpanel["allowlists"]] == [[digest]]
    assert sorted(prefixed["keywords"]) == sorted(formats.PREFIXES.values())
    prefixed, cpanel = detector("TokenwardPrefixedToken"), detector("TokenwardCpanelFormatToken")
    assert prefixed["regex"] == {"token": formats.PREFIXED_REGEX}
    assert cpanel["regex"] == {"token": formats.CONTEXT_REGEX}
    assert prefixed["entropy"] == cpanel["entropy"] == formats.MIN_ENTROPY
    assert cpanel["exclude_regexes_capture"] == [digest]
    assert sorted(prefixed["keywords"]) == sorted(formats.PREFIXES.values())


# -- the rules, applied as each tool applies them ---------------------------------------


def _entropy_ok(secret: str, floor: float) -> bool:
    return formats.shannon_entropy(secret) >= floor


def gitleaks_scan(text: str) -> set[str]:
    found: set[str] = set()
    lowered = text.lower()
    for entry in gitleaks()["rules"]:
        if not any(keyword in lowered for keyword in entry["keywords"]):
            continue
        allowed = [re2.compile(p) for a in entry.get("allowlists", []) for p in a["regexes"]]
        for match in re2.compile(entry["regex"]).finditer(text):
            secret = match.group(entry["secretGroup"])
            if _entropy_ok(secret, entry["entropy"]) and not any(a.search(secret) for a in allowed):
                found.add(secret)
    return found


def trufflehog_scan(text: str) -> set[str]:
    found: set[str] = set()
    lowered = text.lower()
    for entry in trufflehog()["detectors"]:
        if not any(keyword.lower() in lowered for keyword in entry["keywords"]):
            continue
        excluded = [re2.compile(p) for p in entry.get("exclude_regexes_capture", [])]
        for match in re2.compile(entry["regex"]["token"]).finditer(text):
            secret = match.group(1)
            if _entropy_ok(secret, entry["entropy"]) and not any(
                e.search(secret) for e in excluded
            ):
                found.add(secret)
    return found


def tokenward_scan(text: str) -> set[str]:
    return {found.secret for found in find_tokens(text)}


SCANNERS = [
    pytest.param(gitleaks_scan, id="gitleaks"),
    pytest.param(trufflehog_scan, id="trufflehog"),
]


def samples(user: str, realm: Realm, secret: str) -> Iterator[tuple[str, str]]:
    """(file name, content) with ``secret`` written the ways people leak tokens."""
    scheme = realm.value
    variable = "CPANEL_API_TOKEN" if realm is Realm.CPANEL else "WHM_TOKEN"
    header = f"Authorization: {scheme} {user}:{secret}"
    yield ".env", f"# deploy\n{variable}={secret}\nOTHER=1\n"
    yield "config.yaml", f"{scheme}:\n  host: example.com\n  {scheme}_token: '{secret}'\n"
    yield "settings.json", json.dumps({"host": "h", f"{scheme}Token": secret}, indent=2)
    yield ".bash_history", f"ls\nexport {variable}=\"{secret}\"\ncurl -H '{header}' x\n"
    yield "deploy.py", f'HEADERS = {{"Authorization": "{scheme} {user}:{secret}"}}\n'
    yield (
        "call.sh",
        f"curl -sf -H \"{header}\" 'https://example.com:2087/json-api/version'\n",
    )


TOKENS = [
    pytest.param(Realm.CPANEL, "prefixed", id="prefixed-cpanel"),
    pytest.param(Realm.WHM, "prefixed", id="prefixed-whm"),
    pytest.param(Realm.CPANEL, "cpanel", id="cpanel-format-cpanel"),
    pytest.param(Realm.WHM, "cpanel", id="cpanel-format-whm"),
]


@pytest.mark.parametrize("scan", SCANNERS)
@pytest.mark.parametrize(("realm", "token_format"), TOKENS)
def test_a_real_token_is_found_in_every_kind_of_file(
    scan: Scanner, realm: Realm, token_format: formats.TokenFormat
) -> None:
    for _ in range(20):
        secret = generate(realm, token_format)
        for name, content in samples("alice", realm, secret):
            assert scan(content) == {secret} == tokenward_scan(content), name


def _bad_checksum(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(list(formats.PREFIXES.values()))
        text = prefix + "".join(rng.choice(formats.BASE62) for _ in range(36))
        if formats.recognise(text) is None:
            return text


def _negatives(rng: random.Random) -> Iterator[str]:
    yield "the quick brown fox jumps over the lazy dog; cpanel and whm are hosting panels"
    yield "TWCP_IS_A_CONSTANT = 1; twcp_short = 2; my_twcp_" + "a" * 36
    for _ in range(50):
        yield f"id: {uuid.uuid4()}\nupper: {str(uuid.uuid4()).upper()}"
        blob = rng.randbytes(rng.randrange(20, 400))
        yield base64.b64encode(blob).decode()
        yield base64.urlsafe_b64encode(blob).decode()
        yield "cpanel_md5 = " + rng.randbytes(16).hex().upper()  # a digest after a keyword
        # cPanel's shape, but with nothing saying it is a token
        yield "build " + "".join(
            rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(32)
        )


@pytest.mark.parametrize("scan", SCANNERS)
def test_text_without_tokens_gives_no_finding(scan: Scanner) -> None:
    rng = random.Random(18)
    for text in _negatives(rng):
        assert scan(text) == set() == tokenward_scan(text), text


@pytest.mark.parametrize("scan", SCANNERS)
def test_a_bad_checksum_fools_the_scanners_but_not_tokenward_scan(scan: Scanner) -> None:
    """gitleaks and trufflehog cannot compute a CRC32, so a string of the right shape with a
    wrong checksum is reported by them (their entropy floor aside); ``tokenward scan``, which
    checks it, reports nothing."""
    rng = random.Random(7)
    for _ in range(50):
        fake = _bad_checksum(rng)
        assert scan(f"TOKEN={fake}") == {fake}
        assert tokenward_scan(f"TOKEN={fake}") == set()


def test_re2_and_pythons_re_read_every_pattern_alike() -> None:
    """``tokenward scan`` runs the patterns with Python's ``re`` (ASCII); the tools with RE2."""
    rng = random.Random(3)
    texts = [content for _, content in samples("root", Realm.CPANEL, generate(Realm.CPANEL))]
    texts += [content for _, content in samples("root", Realm.WHM, generate("whm", "prefixed"))]
    texts += list(_negatives(rng))
    texts += ["cpanel\u00e9 alice:" + "A1" * 16, "whm\tr\u00f6ot:" + "B2" * 16 + "\u00e9"]
    for pattern in (formats.PREFIXED_REGEX, formats.CONTEXT_REGEX, formats.SHAPE_REGEX):
        python, go = re.compile(pattern, re.ASCII), re2.compile(pattern)
        for text in texts:
            expected = [m.span(1) for m in python.finditer(text)]
            assert [m.span(1) for m in go.finditer(text)] == expected, (pattern, text)
