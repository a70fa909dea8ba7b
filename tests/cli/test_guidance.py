"""When the CLI cannot do what was asked, or not all of it, it says so plainly and what to do
instead: a port in use, a grace period the token will not live through, a header of another
scheme, a prefix with host bits set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tokenward.testing import FrozenClock

from .conftest import Cli

TOKENWARD = str(Path(sys.executable).parent / "tokenward")


def test_serve_on_a_port_in_use_says_so_in_one_line_and_never_claims_to_be_serving(
    workdir: Path,
) -> None:
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [TOKENWARD, "serve", "--port", str(port), "--store", f"sqlite:///{workdir}/t.db"],
            env={**os.environ, "TOKENWARD_ARGON2": "fast"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "serving on" not in result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"tokenward: error: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in result.stderr


def test_rotate_caps_a_grace_the_token_will_not_live_through_and_warns(
    cli: Cli, clock: FrozenClock
) -> None:
    assert cli("create", "--user", "alice", "--name", "ci", "--expires-in", "1h").status == 0
    result = cli("rotate", "--user", "alice", "--name", "ci", "--grace", "7d", "--json")
    assert result.status == 0, result.err
    rotated = json.loads(result.out)
    expires_at = int(clock()) + 3600
    assert rotated["expires_at"] == expires_at
    assert rotated["previous_secret_until"] == expires_at  # not a week: the token ends first
    assert "warning: the token expires" in result.err
    assert "a grace period of 7 days" in result.err


def test_rotate_keeps_a_grace_the_token_lives_through(cli: Cli, clock: FrozenClock) -> None:
    assert cli("create", "--user", "alice", "--name", "ci", "--expires-in", "1d").status == 0
    result = cli("rotate", "--user", "alice", "--name", "ci", "--grace", "1h", "--json")
    assert json.loads(result.out)["previous_secret_until"] == int(clock()) + 3600
    assert "warning: the token expires" not in result.err


def test_check_calls_a_header_of_another_scheme_not_ours_and_an_empty_one_missing(
    cli: Cli,
) -> None:
    assert cli("create", "--user", "alice", "--name", "ci").status == 0
    other = cli("check", "--header", "Bearer abc")
    assert other.status == 1
    assert other.out.splitlines()[0] == "refused: not a cpanel/whm header"
    assert "cpanel USER:TOKEN" in other.out.splitlines()[1]
    assert cli("check", "--header", "").out.splitlines()[0] == "refused: missing"


def test_a_prefix_with_host_bits_set_suggests_the_network_and_the_one_address(cli: Cli) -> None:
    result = cli("create", "--user", "alice", "--name", "ci", "--ip", "10.0.0.1/8")
    assert result.status == 1
    assert "did you mean 10.0.0.0/8" in result.err
    assert "or 10.0.0.1 " in result.err
    ipv6 = cli("create", "--user", "alice", "--name", "ci", "--ip", "2001:db8::1/32")
    assert "did you mean 2001:db8::/32" in ipv6.err


@pytest.mark.parametrize(
    ("acl", "hint"),
    [
        pytest.param("edit-dsn", "did you mean 'edit-dns'?", id="typo-gets-its-fix"),
        pytest.param("deploy-app", "not one of WHM's", id="an-apps-own-name-only-noted"),
    ],
)
def test_an_acl_outside_whms_chart_is_a_warning_with_a_did_you_mean(
    cli: Cli, acl: str, hint: str
) -> None:
    """The CLI has no vocabulary to refuse against (an application may define its own
    names), so a misspelt ACL is warned about on stderr and the token is still made."""
    result = cli("create", "--user", "alice", "--name", "ci", "--acl", acl)
    assert result.status == 0
    assert f"ACL {acl!r}" in result.err
    assert hint in result.err
    assert result.err.count("\n") == 1
