"""``tokenward serve`` at its seams with uvicorn: whose forwarding headers count, and what
reaches the log. A real process on 127.0.0.1, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.api.test_serve import TOKENWARD, free_port, run_cli


@contextlib.contextmanager
def serving(tmp_path: Path, *extra: str) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """The server's base URL, its environment, and (after the block) its log lines."""
    env = {
        **os.environ,
        "TOKENWARD_STORE": f"sqlite:///{tmp_path / 'tw.db'}",
        "TOKENWARD_ARGON2": "fast",
    }
    port = free_port()
    process = subprocess.Popen(
        [TOKENWARD, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    pause = threading.Event()
    try:
        for _ in range(300):  # bounded wait until uvicorn answers
            if process.poll() is not None:
                raise RuntimeError(process.stdout.read() if process.stdout else "exited")
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                pause.wait(0.05)
        yield base, env, lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.stdout is not None
        lines.extend(process.stdout.read().splitlines())
        process.stdout.close()


def mint(env: dict[str, str], *args: str) -> tuple[str, str]:
    created = run_cli(env, "create", "--user", "alice", "--json", *args)
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["token"]
    return secret, f"cpanel alice:{secret}"


def test_a_local_process_cannot_set_its_address_with_forwarded_for(tmp_path: Path) -> None:
    """Loopback is not a trusted proxy here, so nothing a loopback client sends may move
    its address; uvicorn's own proxy-header handling would have believed it."""
    with serving(tmp_path, "--trusted-proxy", "10.9.0.0/16") as (base, env, _):
        _, header = mint(env, "--name", "office", "--ip", "192.0.2.0/24")
        spoofed = {"Authorization": header, "X-Forwarded-For": "192.0.2.7"}
        response = httpx.get(f"{base}/execute/Tokens/list", headers=spoofed, timeout=10)
        assert response.status_code == 401
        real = httpx.get(
            f"{base}/auth",
            headers={**spoofed, "X-Real-IP": "192.0.2.7", "X-Original-URI": "/x"},
            timeout=10,
        )
        assert real.status_code == 401


def test_no_secret_or_control_character_reaches_the_servers_log(tmp_path: Path) -> None:
    with serving(tmp_path) as (base, env, lines):
        secret, header = mint(env, "--name", "admin")
        details = f"{base}/json-api/api_token_get_details?api.version=1&token={secret}"
        httpx.get(details, headers={"Authorization": header.replace("cpanel", "whm")})
        httpx.get(f"{base}/execute/Tokens/list?token={secret}", headers={"Authorization": header})
        forged = {"X-Original-URI": "/x%0a2026-12-02 INFO forged", "Authorization": header}
        httpx.get(f"{base}/auth", headers=forged)
        httpx.get(f"{base}/auth", headers={"X-Original-URI": f"/x?token={secret}"})
    assert any("/json-api/api_token_get_details?…" in line for line in lines), lines
    for line in lines:
        assert secret not in line, line
        assert re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line) is None, line
    assert not any(line.startswith("2026-12-02 INFO forged") for line in lines)
