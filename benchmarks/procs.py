"""What every benchmark needs of the processes it starts: a free loopback port, the server process
itself (started, waited for, stopped) and the CPU it used."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # this venv's scripts, ``openstoq`` among them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used so far (every thread), or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_seconds(cpu: int | None) -> float | None:
    """Time the hypervisor has taken from ``cpu`` (all CPUs when None) so far, or None off Linux.

    A virtual machine's neighbours show up here: time the servers could not run at all.
    """
    name = "cpu" if cpu is None else f"cpu{cpu}"
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields and fields[0] == name and len(fields) > 8:
            return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    return None


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """``cmd`` run on ``cpu`` only (with taskset, when there is one)."""
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


class Server:
    """A child server process on a loopback port, its output in ``log``; stopped with SIGINT
    (uvicorn's graceful shutdown, which runs the lifespan's end), then killed if it lingers."""

    def __init__(self, cmd: list[str], env: Mapping[str, str], port: int, log: Path, name: str = "openstoq") -> None:
        self.name, self.port, self.log = name, port, log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(cmd, env=dict(env), stdout=self._log_file, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once ``/llms.txt`` answers; raise with the end of the log if the process exits or stays mute."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(self.url + "/llms.txt", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def openstoq_serve(env: Mapping[str, str], log: Path, *args: str, cpu: int | None = None) -> Server:
    """``openstoq serve`` from this venv on a free port (pinned to ``cpu``), ready to answer."""
    port = free_port()
    cmd = [str(BIN / "openstoq"), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    server = Server(pinned(cmd, cpu), env, port, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server
