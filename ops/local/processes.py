"""Facts about local processes and ports: pid files, zombies, shared memory, busy and free ports."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def pid_alive(pid: int, program: str | None = None) -> bool:
    """True when `pid` runs (not a zombie) and, if given, is `program` (pid files outlive reboots)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    proc = Path(f"/proc/{pid}")
    try:
        # A killed daemon whose parent does not reap it stays a zombie: it is gone for our purposes.
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if program is not None:
            return program.encode() in proc.joinpath("cmdline").read_bytes()
    except (FileNotFoundError, PermissionError, IndexError):
        return proc.exists()
    return True


def worst_line(log: str) -> str:
    """The line of a log tail that says why a server stopped: its last FATAL/ERROR, else its last line."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        # The server logs FATAL/PANIC/ERROR; initdb and pg_ctl write `<program>: error: <message>`.
        if any(level in line for level in ("FATAL", "PANIC", "ERROR", ": error:")):
            return line
    return lines[-1] if lines else "no output"


def shm_attached(shmid: str) -> bool:
    """True while some process is attached to the SysV shared-memory segment `shmid`."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except FileNotFoundError:
        return False
    for row in rows:
        fields = row.split()
        if len(fields) > 6 and fields[1] == shmid:
            return int(fields[6]) > 0
    return False


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port (bound the way servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_stays_busy(port: int, grace_s: float) -> bool:
    """True when the port is in use and stays so for `grace_s` seconds."""
    deadline = time.monotonic() + grace_s
    while port_in_use(port):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    """A port nothing listens on right now (for throwaway environments)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def started_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot): with the pid, it names one process, as a
    pid alone does not once it is reused. None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def stop_daemon(pid: int, signum: int, pidfile: Path, program: str, timeout_s: float) -> bool:
    """Send `signum` to daemon `pid` (running `program`), then wait until its `pidfile` is gone or
    it is; False if it still runs after `timeout_s`. PermissionError if it may not be signalled.

    Looks every 10 ms: `pg_ctl stop --wait` looks every 100 ms, ~50 ms lost on each stop.
    """
    os.kill(pid, signum)
    deadline = time.monotonic() + timeout_s
    while pidfile.exists() and pid_alive(pid, program):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
