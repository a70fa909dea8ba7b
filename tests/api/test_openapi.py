"""The OpenAPI document matches what the server answers: schemathesis fuzzes every
operation against a live server (its CLI, as CI would run it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import LiveServer

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
