"""What every benchmark needs of the processes it starts: a free loopback port and their CPU time."""

from __future__ import annotations

import os
import socket
from pathlib import Path


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
