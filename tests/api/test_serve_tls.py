"""``tokenward serve`` over TLS on cPanel's two ports, as cPanel serves token calls: a real
process on 127.0.0.1 with a self-signed certificate made for the test."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_serve import TOKENWARD, free_port, run_cli
from tokenward.cli import main


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM), by openssl."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    made = subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate: {made.stderr.strip()}")
    return cert, key


class TLSServer:
    """The running process: its two base URLs, the trust for its certificate, and its
    output (once stopped)."""

    def __init__(self, env: dict[str, str], cert: Path, key: Path) -> None:
        self.env = env
        self.trust = ssl.create_default_context(cafile=str(cert))
        port, whm_port = free_port(), free_port()
        self.cpanel = f"https://127.0.0.1:{port}"
        self.whm = f"https://127.0.0.1:{whm_port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                *(TOKENWARD, "serve", "--certfile", str(cert), "--keyfile", str(key)),
                *("--port", str(port), "--whm-port", str(whm_port)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_until_answering(self) -> None:
        pause = threading.Event()
        for _ in range(300):  # bounded wait until uvicorn answers on both ports
            if self.process.poll() is not None:
                stdout = self.process.stdout
                raise RuntimeError(stdout.read() if stdout else "exited")
            try:
                for base in (self.cpanel, self.whm):
                    httpx.get(f"{base}/health", verify=self.trust, timeout=1)
                return
            except httpx.TransportError:
                pause.wait(0.05)
        raise RuntimeError("tokenward serve did not answer")

    def stop(self) -> list[str]:
        """Stop the process (once) and return what it printed."""
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.lines.extend(self.process.stdout.read().splitlines())
            self.process.stdout.close()
        return self.lines


@pytest.fixture
def served(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[TLSServer]:
    env = {
        **os.environ,
        "TOKENWARD_STORE": f"sqlite:///{tmp_path / 'tw.db'}",
        "TOKENWARD_ARGON2": "fast",
    }
    server = TLSServer(env, *certificate)
    try:
        server.wait_until_answering()
        yield server
    finally:
        server.stop()


def mint(env: dict[str, str], realm: str) -> dict[str, str]:
    created = run_cli(env, "create", "--user", "alice", "--name", realm, "--realm", realm, "--json")
    assert created.returncode == 0, created.stderr
    return {"Authorization": f"{realm} alice:{json.loads(created.stdout)['token']}"}


def test_serve_with_a_certificate_answers_token_calls_over_https_on_both_ports(
    served: TLSServer,
) -> None:
    cpanel, whm = mint(served.env, "cpanel"), mint(served.env, "whm")
    with httpx.Client(verify=served.trust, timeout=10) as client:
        listed = client.get(f"{served.cpanel}/execute/Tokens/list", headers=cpanel)
        assert [token["name"] for token in listed.json()["data"]] == ["cpanel"]
        tokens = client.get(f"{served.whm}/json-api/api_token_list?api.version=1", headers=whm)
        assert list(tokens.json()["data"]["tokens"]) == ["whm"]
        # Both ports serve the same app: the Authorization scheme picks the realm.
        assert client.get(f"{served.whm}/execute/Tokens/list", headers=cpanel).status_code == 200
        made = client.post(
            f"{served.whm}/json-api/create_user_session?api.version=1",
            data={"user": "alice", "service": "whostmgrd"},
            headers=whm,
        )
        assert made.json()["data"]["url"].startswith(f"{served.whm}/cpsess")


def test_serve_with_a_certificate_refuses_plain_http_on_both_ports(served: TLSServer) -> None:
    for base in (served.cpanel, served.whm):
        with pytest.raises(httpx.TransportError):
            httpx.get(base.replace("https://", "http://", 1) + "/health", timeout=10)


def test_serve_with_a_certificate_prints_both_https_addresses(served: TLSServer) -> None:
    lines = served.stop()
    assert any(line.startswith(f"tokenward serving on {served.cpanel} (") for line in lines)
    assert f"tokenward serving on {served.whm} too (WHM's port: the same API)" in lines
    assert f"manage tokens in a browser at {served.cpanel}/tokens/" in lines


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["--certfile", "{cert}"], "go together", id="certfile-alone"),
        pytest.param(["--keyfile", "{key}"], "go together", id="keyfile-alone"),
        pytest.param(
            ["--certfile", "{missing}", "--keyfile", "{key}"],
            "none.pem: No such file",
            id="missing-cert",
        ),
        pytest.param(
            ["--certfile", "{cert}", "--keyfile", "{missing}"],
            "none.pem: No such file",
            id="missing-key",
        ),
        pytest.param(
            ["--certfile", "{cert}", "--keyfile", "{dir}"],
            "Is a directory",
            id="key-is-a-directory",
        ),
        pytest.param(
            ["--certfile", "{key}", "--keyfile", "{cert}"], "not a PEM certificate", id="swapped"
        ),
        pytest.param(["--whm-port", "70000"], "not a port number", id="whm-port-out-of-range"),
        pytest.param(
            ["--port", "2090", "--whm-port", "2090"], "the same port as --port", id="same-ports"
        ),
    ],
)
def test_bad_tls_and_port_arguments_are_one_line_and_exit_2(
    args: list[str],
    says: str,
    certificate: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cert, key = certificate
    paths = {"cert": str(cert), "key": str(key), "missing": str(tmp_path / "none.pem")}
    paths["dir"] = str(tmp_path)
    given = [arg.format(**paths) for arg in args]
    status = main(["serve", "--store", f"sqlite:///{tmp_path / 'x.db'}", *given])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith("tokenward: error:")
    assert says in err
