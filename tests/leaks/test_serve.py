"""``tokenward serve``'s ``/credentials/revoke`` as a user runs it: a real process on 127.0.0.1
over a SQLite file, stopped with SIGTERM, which processes the reports still waiting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tokenward.cli import main

from ..api.test_serve import TOKENWARD, free_port, run_cli


def test_a_reported_token_is_revoked_and_the_limit_flag_is_applied(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOKENWARD_STORE": f"sqlite:///{tmp_path / 'tw.db'}",
        "TOKENWARD_ARGON2": "fast",
    }
    created = run_cli(env, "create", "--user", "alice", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["token"]
    port = free_port()
    command = [TOKENWARD, "serve", "--port", str(port), "--leak-report-limit", "2/600"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    pause = threading.Event()
    try:
        for _ in range(300):  # uvicorn binds its own socket: wait, bounded, until it answers
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pause.wait(0.05)
        url = f"{base}/credentials/revoke"
        answers = [
            httpx.post(url, json={"credentials": [f"Authorization: cpanel alice:{secret}"]}),
            httpx.post(url, json={"credentials": ["U7HMR63FGY292DQZ4H5BFH16JLYMO01M"]}),
            httpx.post(url, json={"credentials": ["x"]}),
        ]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[0].content == answers[1].content == b'{"status": "received", "count": 1}'
        assert answers[2].headers["retry-after"].isdigit()
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: waiting reports are processed
        out, err = process.communicate(timeout=30)
    assert process.returncode in (0, -signal.SIGTERM)
    assert secret not in out + err
    assert "POST /credentials/revoke" in err  # the access log: the path, never the body
    (token,) = json.loads(run_cli(env, "list", "--json").stdout)
    assert (token["status"], token["revoked_reason"]) == ("revoked", "reported leaked")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("30", id="no-window"),
        pytest.param("0/60", id="zero-requests"),
        pytest.param("5/0", id="zero-window"),
        pytest.param("5/nan", id="nan-window"),
        pytest.param("five/60", id="not-a-number"),
    ],
)
def test_a_bad_leak_report_limit_is_one_line_and_exit_2(
    value: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(
        ["serve", "--store", f"sqlite:///{tmp_path / 'x.db'}", "--leak-report-limit", value]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err == (
        f"tokenward: error: --leak-report-limit {value}: use N/SECONDS, e.g. 30/300 "
        "(N at least 1)\n"
    )
