"""Section 4's servers: how each is started on 127.0.0.1 with one worker, how the runner
knows it is serving, how it is stopped, and the CPU time of its process tree."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).parents[1]
_BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class Server:
    """``kind``: "asgi" or "wsgi" (which factories it serves); ``label``: for the table."""

    name: str
    label: str
    kind: str

    def command(self, factory: str, port: int) -> list[str]:
        """One worker, no access log, no reload; ``factory`` names a function in apps.py,
        or ``module:function`` elsewhere."""
        target = factory if ":" in factory else f"benchmarks.apps:{factory}"
        if self.name.startswith("uvicorn"):
            http, loop = ("httptools", "uvloop") if self.name == "uvicorn" else ("h11", "asyncio")
            return [
                sys.executable, "-m", "uvicorn", target, "--factory",
                "--host", "127.0.0.1", "--port", str(port),
                "--http", http, "--loop", loop,
                "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
        worker = ["-k", "uvicorn_worker.UvicornWorker"] if self.kind == "asgi" else []
        return [
            str(_BIN / "gunicorn"), *worker, "--workers", "1",
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            f"{target}()",
        ]  # fmt: skip


SERVERS = (
    Server("uvicorn", "uvicorn[standard] (httptools, uvloop)", "asgi"),
    Server("uvicorn-h11", "uvicorn (h11, asyncio)", "asgi"),
    Server("gunicorn", "gunicorn, sync worker", "wsgi"),
    Server("gunicorn-uvicorn", "gunicorn + uvicorn_worker.UvicornWorker", "asgi"),
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every probe stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


@dataclasses.dataclass
class Running:
    """A started server: its process (the root of the tree whose CPU is counted)."""

    server: Server
    factory: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        """The end of its log, for an error message (servers never log a secret)."""
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def start(server: Server, factory: str, port: int, env: Mapping[str, str], log: Path) -> Running:
    """Its own session, so a server that ignores SIGTERM is killed with its workers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            server.command(factory, port),
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(server, factory, port, process, log)


def stop(running: Running) -> None:
    """SIGTERM (gunicorn stops its worker), then SIGKILL to the group after 20 s."""
    process = running.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def serving(started: list[Running]) -> Iterator[list[Running]]:
    """Every server in ``started`` is stopped on the way out, whatever happened."""
    try:
        yield started
    finally:
        for running in started:
            stop(running)


def wait_until_serving(
    running: Running, path: str, header: str | None, seconds: float = 30.0
) -> None:
    """Polls with a real request until it answers: gunicorn listens before its worker has
    loaded the app, and a port that accepts is not yet a server that answers. Any answer
    but 200 is final (a broken app does not mend itself)."""
    pause = threading.Event()
    headers = {"Authorization": header} if header else {}
    for _ in range(int(seconds / 0.05)):  # bounded
        if running.process.poll() is not None:
            raise RuntimeError(
                f"{running.server.name} {running.factory} exited with "
                f"{running.process.returncode}:\n{running.tail()}"
            )
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
        except OSError:
            pause.wait(0.05)
            continue
        finally:
            connection.close()
        if response.status == 200:
            return
        raise RuntimeError(
            f"{running.server.name} {running.factory} answered {path} with "
            f"{response.status}:\n{running.tail()}"
        )
    raise RuntimeError(
        f"{running.server.name} {running.factory} did not answer {path} in {seconds} s:\n"
        f"{running.tail()}"
    )


def wait_for_file(path: Path, running: Running, seconds: float = 30.0) -> str:
    """What a server process wrote for the runner (the memory store's header)."""
    pause = threading.Event()
    for _ in range(int(seconds / 0.05)):  # bounded
        if path.exists():
            return path.read_text().strip()
        if running.process.poll() is not None:
            break
        pause.wait(0.05)
    raise RuntimeError(
        f"{running.server.name} {running.factory} wrote no {path.name}:\n{running.tail()}"
    )


# -- CPU of a process tree ------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, user ticks, system ticks) of a live process, its threads included; the
    ticks of children it has already reaped are added (a worker gunicorn replaced)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces
    # fields[0] is field 3 of proc(5): state, ppid, ..., utime (14), stime, cutime, cstime
    parent, user, system = int(fields[1]), int(fields[11]), int(fields[12])
    return parent, user + int(fields[13]), system + int(fields[14])


def tree_cpu(root: int) -> tuple[int, int]:
    """User and system clock ticks of ``root`` and all its live descendants."""
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                stats[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    user = system = 0
    pending, seen = [root], set()
    while pending:  # bounded by the number of processes read
        pid = pending.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        user += stats[pid][1]
        system += stats[pid][2]
        pending.extend(children.get(pid, ()))
    return user, system
