"""Real ``openstoq`` processes for end-to-end tests: start a server on a free port, wait until it
answers, stop it at teardown. Also the environment and command line those processes get.

Typical use, with the ``servers`` fixture of ``tests/conftest.py`` (``servers.start_many(2, env)``
for several at once)::

    def test_something(servers: Servers, tmp_path: Path) -> None:
        server = servers.start(openstoq_env(OPENSTOQ_DATA_DIR=str(tmp_path / "data")))
        httpx.get(server.api + "/llms.txt")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from openstoq.settings import BASE_PATH

# The console script of the virtualenv running the tests (``.venv/bin/openstoq``).
OPENSTOQ = Path(sys.executable).parent / "openstoq"
STARTUP_TIMEOUT = 60.0  # generous: a loaded CI machine can take many seconds to import and migrate


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def openstoq_env(**settings: str | None) -> dict[str, str]:
    """This process's environment minus every ``OPENSTOQ_*`` variable, plus ``settings``.

    ``openstoq_env(OPENSTOQ_DATA_DIR="/tmp/x")``; a value of None leaves the variable out.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTOQ_")}
    env.update({k: v for k, v in settings.items() if v is not None})
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("COLUMNS", "200")  # rich wraps at 80 columns when not writing to a terminal
    return env


def run_cli(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``openstoq <args>`` to completion; stdout and stderr are captured as text."""
    return subprocess.run(
        [str(OPENSTOQ), *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Server:
    """One running ``openstoq serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        """The base URL of the API, e.g. ``http://127.0.0.1:8123/api/v2/external``."""
        return self.url + BASE_PATH

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process and wait for it; kill it if it does not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_until_answering(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll the public llms.txt until the server answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.running():
            raise RuntimeError(
                f"openstoq serve exited with {server.process.returncode} before answering:\n{server.output()}"
            )
        try:
            if httpx.get(server.api + "/llms.txt", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"openstoq serve did not answer within {timeout} s:\n{server.output()}")
        time.sleep(0.05)


def spawn_server(
    env: Mapping[str, str], *args: str, log_dir: Path, command: Sequence[str] = (str(OPENSTOQ),)
) -> Server:
    """Start ``openstoq serve --port <free port> <args>`` without waiting for it to answer."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = log_dir / f"openstoq-serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port), *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],  # the repository, where ``python -m tests...`` resolves
        )
    return Server(process, port, log_path)


def start_servers(
    count: int,
    env: Mapping[str, str],
    *args: str,
    log_dir: Path,
    attempts: int = 3,
    command: Sequence[str] = (str(OPENSTOQ),),
) -> list[Server]:
    """Start ``count`` servers side by side and return once every one answers.

    Each port is picked just before its start, so another process may take it first: then that
    server exits with "address already in use" and is started again on a new port.
    """
    servers = [spawn_server(env, *args, log_dir=log_dir, command=command) for _ in range(count)]
    try:
        for i in range(count):
            for attempt in range(attempts):
                try:
                    wait_until_answering(servers[i])
                    break
                except RuntimeError:
                    servers[i].stop()
                    if "address already in use" not in servers[i].output().lower() or attempt == attempts - 1:
                        raise
                    servers[i] = spawn_server(env, *args, log_dir=log_dir, command=command)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def start_server(env: Mapping[str, str], *args: str, log_dir: Path) -> Server:
    """Start ``openstoq serve --port <free port> <args>`` with ``env`` and return once it answers."""
    return start_servers(1, env, *args, log_dir=log_dir)[0]


class Servers:
    """Starts servers and stops every one of them when the ``with`` block (the test) ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Server] = []

    def start(self, env: Mapping[str, str], *args: str, command: Sequence[str] = (str(OPENSTOQ),)) -> Server:
        """One server, answering when this returns (``command``: another way to run ``openstoq``)."""
        return self.start_many(1, env, *args, command=command)[0]

    def start_many(
        self, count: int, env: Mapping[str, str], *args: str, command: Sequence[str] = (str(OPENSTOQ),)
    ) -> list[Server]:
        """``count`` servers started side by side (quicker than one after the other).

        Each runs the migrations as it starts: give them an already migrated database (the
        ``database_url`` fixture is), or start one first.
        """
        servers = start_servers(count, env, *args, log_dir=self.log_dir, command=command)
        self.started.extend(servers)
        return servers

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
