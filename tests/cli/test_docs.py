"""The contracts users rely on are written down in docs/, where the README points: every
command and flag, the store URLs, ``serve`` and forward auth, the examples' routes. The
repository is all a reader has, so nothing cites a document that is not in it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tokenward.cli import build_parser

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def flags(parser: argparse.ArgumentParser) -> list[str]:
    """The long options a user can see in ``--help``."""
    return [
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def read(name: str) -> str:
    return (DOCS / name).read_text()


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_and_each_of_its_flags_is_documented(name: str) -> None:
    doc = read("deploy.md" if name == "serve" else "managing.md")
    assert f"tokenward {name}" in doc
    missing = [flag for flag in flags(commands()[name]) if f"`{flag}" not in doc]
    assert missing == [], f"tokenward {name}: undocumented {missing}"


def test_store_urls_and_their_options_are_documented_with_the_cli() -> None:
    doc = read("managing.md")
    for text in (
        "memory://",
        "sqlite:///",
        "sqlite:////",
        "postgresql://",
        "redis://",
        "tokenward_cache",
        "tokenward_schema",
        "tokenward_prefix",
        "tokenward_upgrade",
        "$TOKENWARD_STORE",
    ):
        assert text in doc, text


def test_serve_and_the_forward_auth_headers_are_documented_for_deployment() -> None:
    doc = read("deploy.md")
    for text in (
        "/execute/Tokens/",
        "/json-api/",
        "/auth",
        "/health",
        "/tokens/",
        "X-Original-URI",
        "X-Forwarded-Uri",
        "X-Original-Method",
        "X-Forwarded-Method",
        "X-Real-IP",
        "X-Forwarded-For",
        "X-Tokenward-User",
        "X-Tokenward-Realm",
        "X-Tokenward-Token",
        "X-Tokenward-ACLs",
    ):
        assert text in doc, text


def test_the_examples_contract_names_every_example_and_route() -> None:
    doc = read("examples.md")
    for example in sorted(ROOT.glob("examples/*.py")):
        assert f"examples/{example.name}" in doc, example.name
    assert "django_project" in doc
    for text in ("TOKENWARD_STORE", "/whoami", "/dns/zones", "edit-dns", "/health"):
        assert text in doc, text


def test_nothing_cites_a_design_document_that_is_not_in_the_repository() -> None:
    cited = re.compile(r"design §|design\.md")
    files = [ROOT / "README.md", *DOCS.glob("*.md")]
    files += [p for folder in ("src", "examples") for p in (ROOT / folder).rglob("*.py")]
    citing = [str(p.relative_to(ROOT)) for p in files if cited.search(p.read_text())]
    assert citing == []
