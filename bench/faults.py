"""Two load faults and the recovery from each: the app under load on /healthz/db when PgBouncer is
killed (SIGKILL) and when Postgres stops (immediate shutdown), then `env.up` brings it back.

8 clients (keep-alive, loopback only) on /healthz/db for 15 s; the fault at 3 s; `env.up` 4 s later.
Per fault: requests, how many failed, the time from the fault to the first failed answer, and the
time from the start of `env.up` to the first good answer after the last failure; side by side.

Run: `.venv/bin/python bench/faults.py [--clients 8] [--duration 15] [--fault-at 3] [--up-after 4]`
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ops.local.native import LocalEnv
from ops.local.throwaway import throwaway_env
from ops.smoke.appserver import running_app

REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Answer:
    """One request: when it started and ended (seconds since the load began), and whether it was a 200."""

    started: float
    ended: float
    ok: bool


@dataclass(frozen=True)
class Figures:
    """One fault's figures."""

    fault: str
    requests: int
    failed: int
    first_failure_s: float | None  # after the fault
    back_s: float | None  # after env.up started: the first good answer after the last failure
    up_s: float  # how long env.up took


def _client(port: int, zero: float, deadline: float, answers: list[Answer], lock: threading.Lock) -> None:
    """GET /healthz/db in a loop until `deadline` (monotonic), over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            conn.request("GET", "/healthz/db")
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()  # a new connection for the next request
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        with lock:
            answers.append(Answer(started - zero, time.monotonic() - zero, ok))
    conn.close()


def kill_pgbouncer(env: LocalEnv) -> None:
    pid = env.bouncer.pid()
    if pid is None:
        raise RuntimeError("PgBouncer is not running")
    os.kill(pid, signal.SIGKILL)


def stop_postgres(env: LocalEnv) -> None:
    result = env.state.run(
        env.binaries.pg("pg_ctl"), "stop", "--pgdata", str(env.pgdata), "--mode", "immediate", "--wait"
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_ctl stop failed: {result.stderr.strip()}")


def run_fault(
    name: str,
    fault: Callable[[LocalEnv], None],
    *,
    clients: int,
    duration_s: float,
    fault_at_s: float,
    up_after_s: float,
) -> Figures:
    """One fault under load in an environment of its own."""
    with throwaway_env("pgstack-bench-faults-") as env, running_app(env.target().environ()) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        answers: list[Answer] = []
        lock = threading.Lock()
        zero = time.monotonic()
        deadline = zero + duration_s
        threads = [
            threading.Thread(target=_client, args=(port, zero, deadline, answers, lock), daemon=True)
            for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, zero + fault_at_s - time.monotonic()))
        fault_t = time.monotonic() - zero
        fault(env)
        time.sleep(max(0.0, zero + fault_at_s + up_after_s - time.monotonic()))
        up_t = time.monotonic() - zero
        env.up()
        up_s = time.monotonic() - zero - up_t
        for thread in threads:
            thread.join(duration_s + REQUEST_TIMEOUT_S * 2)
    failures = [a for a in answers if not a.ok]
    first_failure = min((a.ended for a in failures if a.ended >= fault_t), default=None)
    last_failure = max((a.ended for a in failures), default=None)
    back = None
    if last_failure is not None:
        good_after = [a.ended for a in answers if a.ok and a.ended > last_failure]
        back = min(good_after) - up_t if good_after else None
    return Figures(
        name,
        len(answers),
        len(failures),
        None if first_failure is None else first_failure - fault_t,
        back,
        up_s,
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--fault-at", type=float, default=3.0)
    parser.add_argument("--up-after", type=float, default=4.0)
    args = parser.parse_args()
    if not (
        0 < args.fault_at < args.fault_at + args.up_after < args.duration <= 120 and 0 < args.clients <= 64
    ):
        parser.error("need 0 < fault-at < fault-at + up-after < duration <= 120 and 1..64 clients")
    faults: list[tuple[str, Callable[[LocalEnv], None]]] = [
        ("pgbouncer killed (SIGKILL)", kill_pgbouncer),
        ("postgres stopped (immediate)", stop_postgres),
    ]
    print(
        f"{args.clients} clients on /healthz/db for {args.duration:.0f} s, fault at {args.fault_at:.0f} s, "
        f"env.up {args.up_after:.0f} s later"
    )
    rows = [
        run_fault(
            name,
            fault,
            clients=args.clients,
            duration_s=args.duration,
            fault_at_s=args.fault_at,
            up_after_s=args.up_after,
        )
        for name, fault in faults
    ]
    header = ("requests", "failed", "first failure", "back after up", "env.up")
    print(f"{'fault':<30} {header[0]:>9} {header[1]:>14} {header[2]:>14} {header[3]:>14} {header[4]:>9}")
    for row in rows:
        share = f"{row.failed} ({100 * row.failed / max(row.requests, 1):.1f}%)"
        print(
            f"{row.fault:<30} {row.requests:>9} {share:>14} {_seconds(row.first_failure_s):>14} "
            f"{_seconds(row.back_s):>14} {_seconds(row.up_s):>9}"
        )


if __name__ == "__main__":
    main()
