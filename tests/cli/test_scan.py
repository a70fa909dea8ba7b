"""``tokenward scan``: what it finds in files, what it says of each finding (never the
secret), which are live in the store, revoking those, and its exit status."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import yaml

from tokenward import Realm, SQLiteStore
from tokenward.cli import build_parser
from tokenward.core.formats import CHECKSUM_LENGTH, generate, recognise
from tokenward.testing import FrozenClock

from .conftest import Cli, Result

ROOT = Path(__file__).parents[2]


@pytest.fixture
def store(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite store named by ``$TOKENWARD_STORE``, minting prefixed tokens."""
    path = workdir / "tokens.db"
    monkeypatch.setenv("TOKENWARD_STORE", f"sqlite:///{path}")
    monkeypatch.setenv("TOKENWARD_TOKEN_FORMAT", "prefixed")
    return path


def mint(cli: Cli, *args: str, user: str = "alice", name: str = "ci") -> str:
    result = cli("create", "--user", user, "--name", name, "--json", *args)
    assert result.status == 0, result.err
    secret: str = json.loads(result.out)["token"]
    return secret


def no_secret(result: Result, *secrets: str) -> Result:
    for secret in secrets:
        assert secret not in result.out
        assert secret not in result.err
    return result


def test_a_clean_tree_exits_0_and_says_nothing(cli: Cli, workdir: Path) -> None:
    (workdir / "app.py").write_text("print('hello')\n")
    result = cli("scan", ".")
    assert (result.status, result.out, result.err) == (0, "", "")


def test_a_finding_names_file_line_column_and_format_never_the_secret(
    cli: Cli, workdir: Path
) -> None:
    secret = generate(Realm.WHM, "prefixed")
    (workdir / "notes.txt").write_text(f"first line\n  token: {secret}\n")
    result = no_secret(cli("scan", "notes.txt"), secret)
    assert result.status == 1
    fingerprint = secret[:9] + "…"
    assert result.out == (
        f"notes.txt:2:10: prefixed token {fingerprint} "
        "not checked (no store: --store or TOKENWARD_STORE)\n"
    )


def test_a_live_token_is_named_by_realm_user_and_name(cli: Cli, store: Path) -> None:
    secret = mint(cli, "--realm", "whm", user="root", name="deploy")
    assert recognise(secret) is not None
    Path("deploy.sh").write_text(f"curl -H 'Authorization: whm root:{secret}' https://h\n")
    result = no_secret(cli("scan", "deploy.sh"), secret)
    assert result.status == 1
    assert result.out.splitlines()[0] == (
        f"deploy.sh:1:34: prefixed token {secret[:9]}… LIVE: whm token 'deploy' of root"
    )
    assert "revoke them (tokenward scan --revoke" in result.out


def test_json_output_has_one_object_per_finding(cli: Cli, store: Path) -> None:
    secret = mint(cli)
    unknown = generate(Realm.CPANEL)
    Path("a.env").write_text(f"TOKEN={secret}\nCPANEL_TOKEN={unknown}\n")
    result = no_secret(cli("scan", "a.env", "--format", "json"), secret, unknown)
    assert result.status == 1
    report = json.loads(result.out)
    assert report == {
        "findings": [
            {
                "path": "a.env",
                "line": 1,
                "column": 7,
                "format": "prefixed",
                "realm": "cpanel",
                "fingerprint": secret[:9] + "…",
                "status": "live",
                "live": True,
                "token": {
                    "realm": "cpanel",
                    "user": "alice",
                    "name": "ci",
                    "previous_secret": False,
                },
            },
            {
                "path": "a.env",
                "line": 2,
                "column": 14,
                "format": "cpanel",
                "realm": None,
                "fingerprint": unknown[:4] + "…",
                "status": "unknown",
                "live": False,
                "token": None,
            },
        ],
        "revoked": 0,
    }


@pytest.mark.parametrize("realm", ["cpanel", "whm"])
def test_a_cpanel_format_token_is_looked_up_in_both_realms(
    cli: Cli, store: Path, monkeypatch: pytest.MonkeyPatch, realm: str
) -> None:
    monkeypatch.setenv("TOKENWARD_TOKEN_FORMAT", "cpanel")
    secret = mint(cli, "--realm", realm)
    Path("config.yaml").write_text(f"cpanel_api_token: '{secret}'\n")
    result = no_secret(cli("scan", "config.yaml"), secret)
    assert f"cPanel-format token {secret[:4]}… LIVE: {realm} token 'ci' of alice" in result.out


def test_live_only_counts_only_live_tokens(cli: Cli, store: Path, clock: FrozenClock) -> None:
    expired = mint(cli, "--expires-in", "1h", name="old")
    clock.advance(7200)
    made_up = generate(Realm.CPANEL, "prefixed")
    Path("x.txt").write_text(f"{expired}\n{made_up}\n")
    result = no_secret(cli("scan", "x.txt", "--live-only"), expired, made_up)
    assert result.status == 0
    assert "expired: cpanel token 'old' of alice" in result.out
    assert "not in the store" in result.out
    assert cli("scan", "x.txt").status == 1  # without --live-only, any finding counts
    live = mint(cli)
    Path("x.txt").write_text(live)
    assert cli("scan", "x.txt", "--live-only").status == 1


def test_a_rotated_tokens_old_secret_is_live_until_its_grace_ends(
    cli: Cli, store: Path, clock: FrozenClock
) -> None:
    old = mint(cli)
    assert cli("rotate", "--user", "alice", "--name", "ci", "--grace", "1h").status == 0
    Path("old.txt").write_text(old)
    during = no_secret(cli("scan", "old.txt"), old)
    assert "LIVE: the old secret of cpanel token 'ci' of alice, until" in during.out
    clock.advance(3601)
    after = no_secret(cli("scan", "old.txt", "--live-only"), old)
    assert after.status == 0
    assert "rotated out: the old secret of cpanel token 'ci' of alice" in after.out


def test_revoke_revokes_the_live_tokens_found_and_only_those(cli: Cli, store: Path) -> None:
    leaked, kept = mint(cli, name="leaked"), mint(cli, name="kept")
    Path("leak.py").write_text(f'TOKEN = "{leaked}"\nAGAIN = "{leaked}"\n')
    result = no_secret(cli("scan", "leak.py", "--revoke"), leaked)
    assert result.status == 1  # the secret is still in the file
    assert result.out.splitlines()[-1] == "Revoked 1 live token(s); their owners need new ones."
    again = cli("scan", "leak.py", "--live-only")
    assert again.status == 0
    assert "revoked: cpanel token 'leaked' of alice" in again.out
    header = f"cpanel alice:{leaked}"
    assert cli("check", "--header", header).status == 1
    assert cli("check", "--header", f"cpanel alice:{kept}").status == 0


def test_revoke_is_audited_with_the_files_it_was_found_in_and_never_the_secret(
    cli: Cli, store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    leaked = mint(cli)
    Path("a.env").write_text(f"T={leaked}\n")
    Path("clean.txt").write_text("nothing\n")
    with caplog.at_level(logging.DEBUG, logger="tokenward"):
        assert cli("scan", "clean.txt", "a.env", "--revoke").status == 1
    revoked = [r.getMessage() for r in caplog.records if "token.revoked_leaked" in r.getMessage()]
    assert len(revoked) == 1
    assert "reported leaked by scan a.env" in revoked[0]
    assert "clean.txt" not in revoked[0]
    assert all(leaked not in record.getMessage() for record in caplog.records)


def test_revoke_reports_json_counts(cli: Cli, store: Path) -> None:
    leaked = mint(cli)
    Path("leak.txt").write_text(leaked)
    report = json.loads(cli("scan", "leak.txt", "--revoke", "--format", "json").out)
    assert report["revoked"] == 1
    assert report["findings"][0]["status"] == "live"  # what it was when found


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(("--revoke",), "--revoke needs a store", id="revoke-without-store"),
        pytest.param(("--live-only",), "--live-only needs a store", id="live-only-without-store"),
        pytest.param(("--max-size", "lots"), "invalid size", id="bad-size"),
        pytest.param(("missing.txt",), "no such file or directory: missing.txt", id="no-file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    cli: Cli, workdir: Path, argv: tuple[str, ...], message: str
) -> None:
    (workdir / "f.txt").write_text("")
    result = cli("scan", "f.txt", *argv)
    assert result.status == 2
    assert result.err.count("\n") == 1
    assert message in result.err


def test_a_store_that_cannot_be_opened_exits_2_and_is_not_created(cli: Cli, workdir: Path) -> None:
    secret = generate(Realm.CPANEL, "prefixed")
    (workdir / "f.txt").write_text(secret)
    result = no_secret(cli("scan", "f.txt", "--store", "sqlite:///nowhere.db"), secret)
    assert result.status == 2
    assert result.err.startswith("tokenward: error: store: ")
    assert result.err.count("\n") == 1
    assert not (workdir / "nowhere.db").exists()


def test_no_finding_never_opens_the_store(cli: Cli, workdir: Path) -> None:
    (workdir / "f.txt").write_text("nothing here")
    assert cli("scan", "f.txt", "--store", "sqlite:///nowhere.db", "--live-only").status == 0


def test_git_binary_and_oversized_files_are_skipped_oversized_with_a_warning(
    cli: Cli, workdir: Path
) -> None:
    secret = generate(Realm.CPANEL, "prefixed")
    (workdir / ".git").mkdir()
    (workdir / ".git" / "config").write_text(secret)
    (workdir / "image.png").write_bytes(b"\x89PNG\0\0" + secret.encode())
    (workdir / "dump.sql").write_text("x" * 2000 + secret)
    (workdir / "src").mkdir()
    (workdir / "src" / "app.py").write_text(f"T = '{secret}'\n")
    result = no_secret(cli("scan", ".", "--max-size", "1k"), secret)
    assert result.status == 1
    assert [line.split(":")[0] for line in result.out.splitlines()] == ["src/app.py"]
    assert (
        result.err == "tokenward: warning: skipped dump.sql: larger than 1024 bytes (--max-size)\n"
    )


def test_stdin_is_scanned_as_dash(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = generate(Realm.WHM, "prefixed")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"a\nb {secret}\n"))
    result = no_secret(cli("scan", "-"), secret)
    assert result.out.startswith("<stdin>:2:3: prefixed token twwh_")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("twcp_" + "A" * 36, id="prefixed-shape-bad-checksum"),
        pytest.param("id " + generate(Realm.CPANEL), id="cpanel-shape-without-context"),
        pytest.param("md5 D41D8CD98F00B204E9800998ECF8427E", id="hex-digest"),
    ],
)
def test_what_only_looks_like_a_token_is_no_finding(cli: Cli, workdir: Path, text: str) -> None:
    (workdir / "f.txt").write_text(text)
    assert cli("scan", "f.txt").status == 0


def test_all_shapes_reports_any_word_of_the_cpanel_shape(cli: Cli, workdir: Path) -> None:
    secret = generate(Realm.CPANEL)
    (workdir / "f.txt").write_text(f"id {secret}\n")
    assert cli("scan", "f.txt").status == 0
    result = no_secret(cli("scan", "f.txt", "--all-shapes"), secret)
    assert result.status == 1
    assert result.out.startswith(f"f.txt:1:4: cPanel-format token {secret[:4]}…")


def test_create_mints_the_format_tokenward_token_format_names(
    cli: Cli, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefixed = mint(cli, name="a")
    assert prefixed.startswith("twcp_")
    assert len(prefixed) == 35 + CHECKSUM_LENGTH
    monkeypatch.setenv("TOKENWARD_TOKEN_FORMAT", "cpanel")
    assert recognise(mint(cli, name="b")) is not None
    monkeypatch.setenv("TOKENWARD_TOKEN_FORMAT", "ghp")
    result = cli("create", "--user", "alice", "--name", "c")
    assert result.status == 2
    assert "TOKENWARD_TOKEN_FORMAT: unknown token format 'ghp'" in result.err
    records = SQLiteStore(store)
    try:
        assert [r.name for r in records.list()] == ["a", "b"]
    finally:
        records.close()


def test_the_pre_commit_hook_runs_the_scan_command_on_the_files_to_commit() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["tokenward-scan"]
    hook = hooks[0]
    assert hook["entry"] == "tokenward scan"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert "scan" in build_parser().parse_args(["scan", "a.py"]).command
