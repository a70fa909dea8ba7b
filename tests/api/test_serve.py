"""``tokenward serve`` as a user runs it: a real process on 127.0.0.1 over a SQLite file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tokenward.cli import main

TOKENWARD = str(Path(sys.executable).parent / "tokenward")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENWARD, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    env = {
        **os.environ,
        "TOKENWARD_STORE": f"sqlite:///{tmp_path / 'tw.db'}",
        "TOKENWARD_ARGON2": "fast",
    }
    port = free_port()
    process = subprocess.Popen(
        [
            TOKENWARD,
            "serve",
            "--port",
            str(port),
            "--public",
            "/health",
            "--require",
            "/dns=edit-dns",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    pause = threading.Event()
    try:
        for _ in range(300):  # uvicorn binds its own socket: wait, bounded, until it answers
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read() if process.stderr else "exited")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pause.wait(0.05)
        yield base, env, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_serve_runs_the_management_api_and_forward_auth(
    served: tuple[str, dict[str, str], subprocess.Popen[str]],
) -> None:
    base, env, process = served
    created = run_cli(env, "create", "--user", "alice", "--name", "admin", "--json")
    assert created.returncode == 0, created.stderr
    header = {"Authorization": f"cpanel alice:{json.loads(created.stdout)['token']}"}

    listed = httpx.get(f"{base}/execute/Tokens/list", headers=header, timeout=10)
    assert [t["name"] for t in listed.json()["data"]] == ["admin"]
    assert httpx.get(f"{base}/auth", headers={"X-Original-URI": "/health"}).status_code == 200
    assert (
        httpx.get(f"{base}/auth", headers={**header, "X-Original-URI": "/dns"}).status_code == 200
    )
    assert httpx.get(f"{base}/auth", headers={"X-Original-URI": "/dns"}).status_code == 401
    page = httpx.get(f"{base}/tokens/", timeout=10)
    assert page.status_code == 200
    assert 'action="/tokens/signin"' in page.text

    process.send_signal(signal.SIGTERM)  # graceful: last use is written before exit
    # uvicorn re-raises the signal after its graceful shutdown, as a well-behaved server does.
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert process.stdout is not None
    assert f"manage tokens in a browser at {base}/tokens/" in process.stdout.read()
    tokens = json.loads(run_cli(env, "list", "--json").stdout)
    assert tokens[0]["last_used_ip"] == "127.0.0.1"
    assert tokens[0]["last_used_at"] is not None


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--require", "/dns"], id="require-without-acl"),
        pytest.param(["--require", "dns=edit-dns"], id="prefix-without-slash"),
        pytest.param(["--trusted-proxy", "10.0.0.1/8"], id="proxy-with-host-bits"),
        pytest.param(["--port", "70000"], id="port-out-of-range"),
    ],
)
def test_bad_serve_arguments_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["serve", "--store", f"sqlite:///{tmp_path / 'x.db'}", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("tokenward: error:")
