"""Section 4: real servers on 127.0.0.1, a hello world alone vs behind tokenward, loaded by
wrk. One server worker, so the other core is left to the load generator."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tokenward import open_store
from tokenward.testing import TokenFactory

ROOT = Path(__file__).parents[1]
SERVERS = {  # server: (protected app, bare app)
    "uvicorn": ("benchmarks.apps:asgi_protected", "benchmarks.apps:asgi_hello"),
    "gunicorn": ("benchmarks.apps:wsgi_protected()", "benchmarks.apps:wsgi_hello"),
}


def command(server: str, app: str, port: int) -> list[str]:
    if server == "uvicorn":
        module, _, name = app.partition(":")
        build = "a()" if name.endswith("protected") else "a"
        code = (
            f"import uvicorn, {module} as m; a = getattr(m, {name!r}); "
            f"uvicorn.run({build}, host='127.0.0.1', port={port}, log_level='warning', "
            "access_log=False, lifespan='off')"
        )
        return [sys.executable, "-c", code]
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    bind = f"127.0.0.1:{port}"
    return [gunicorn, "--bind", bind, "--workers", "1", "--log-level", "warning", app]


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    pause = threading.Event()
    for _ in range(400):  # bounded: 20 s
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pause.wait(0.05)
    raise RuntimeError("server did not start listening")


def wrk(port: int, seconds: int, header: str | None) -> dict[str, float]:
    args = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"]
    if header:
        args[1:1] = ["-H", f"Authorization: {header}"]
    output = subprocess.run(
        args, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency(output, "50%"),
        "p99_ms": latency(output, "99%"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def latency(output: str, label: str) -> float:
    found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output)
    if found is None:
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def http_runs(seconds: int) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        return [{"skipped": "wrk is not installed (apt-get install wrk)"}]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/http.db"
        store = open_store(url)
        header = TokenFactory(store).mint("bench", "http").header
        store.close()
        env = {**os.environ, "TOKENWARD_STORE": url, "PYTHONPATH": str(ROOT)}
        for server, (protected, bare) in SERVERS.items():
            result: dict[str, Any] = {"server": server}
            # Both runs send the same request (the header too): only the app differs.
            for label, app in (("alone", bare), ("tokenward", protected)):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    port = probe.getsockname()[1]
                process = subprocess.Popen(command(server, app, port), env=env, cwd=ROOT)
                try:
                    wait_for(port, process)
                    wrk(port, 1, header)  # warm-up, including the one cold argon2 verification
                    result[label] = wrk(port, seconds, header)
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
            alone = result["alone"]["requests_per_s"]
            result["ratio"] = result["tokenward"]["requests_per_s"] / alone if alone else 0.0
            rows.append(result)
    return rows
