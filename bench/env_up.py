"""How long `invoke env.up` takes, cold and warm, against the floor of the raw commands it wraps.

Run: .venv/bin/python bench/env_up.py [--runs N]
Cold: `invoke env.up` with no state dir (initdb, start, role/db/schema, PgBouncer), as a user types it.
Floor: the same initdb + openssl (a CA, a server certificate) + pg_ctl start + pgbouncer -d, with
the same settings, as bare commands.
Warm: `invoke env.up` again with everything running. The three are interleaved run by run (the
floor first in every other round), so the machine's noise hits them alike; the figures are medians,
and the ratio is also given round by round (each cold against the floor timed beside it).
The project's modules are compiled to bytecode first, as any earlier run leaves them on a user's
machine (with PYTHONDONTWRITEBYTECODE set and no bytecode, every `invoke` compiles them anew).
Beside the wall times, the CPU (user + sys) of each and of the processes it waits for (not the
servers, which run on): figures other work on the machine barely moves, unlike the wall times.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ops.local.binaries import find_binaries
from ops.local.native import LocalEnv
from ops.local.postgres import CONF_NAME
from ops.local.statedir import SERVICE_USER
from ops.local.throwaway import throwaway_config, write_stack_file
from ops.local.tls import LocalTls
from pgbouncer import render_ini, render_userlist
from stacks.stackfile import REPO_ROOT

AS_ROOT = os.geteuid() == 0
WARM_TARGET_S = 0.5  # issue 20: a warm env.up (everything already running) within half a second


def warm_line(median_s: float) -> str:
    """The warm figure with its target, and whether it meets it (a figure is never left to look met)."""
    met = "met" if median_s <= WARM_TARGET_S else "not met"
    return f"  warm invoke env.up : {median_s:.2f} s   (target <= {WARM_TARGET_S} s: {met})"


def _as_service(*argv: str) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *argv] if AS_ROOT else list(argv)


def _chown(path: Path) -> None:
    if AS_ROOT:
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _children_cpu() -> float:
    """User + sys seconds of the processes this one has waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _invoke(task: str, stack_file: Path, state_dir: Path, check: bool = True) -> None:
    subprocess.run(
        [sys.executable, "-m", "invoke", task],
        cwd=REPO_ROOT,
        env={**os.environ, "PGSTACK_STACK_FILE": str(stack_file), "PGSTACK_STATE_DIR": str(state_dir)},
        check=check,
        capture_output=True,
    )


def _tls_floor(env: LocalEnv) -> LocalTls:
    """env.up's certificates as openssl commands: a CA, and a server certificate it signs."""
    tls = env.state.tls
    tls.directory.mkdir(mode=0o755)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl = ["openssl", "req", *ec]
    subprocess.run(
        [*openssl, "-x509", "-days", "3650", "-subj", "/CN=pgstack local CA",
         "-keyout", str(tls.ca_key), "-out", str(tls.ca_cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    csr = tls.directory / "server.csr"
    subprocess.run(
        [*openssl, "-subj", "/CN=localhost", "-keyout", str(tls.server_key), "-out", str(csr)],
        check=True, capture_output=True,
    )  # fmt: skip
    names = tls.directory / "san.ext"
    names.write_text("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(tls.ca_cert), "-CAkey", str(tls.ca_key),
         "-CAcreateserial", "-days", "397", "-extfile", str(names), "-out", str(tls.server_cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    for path in (tls.directory, tls.ca_cert, tls.ca_key, tls.server_cert, tls.server_key):
        _chown(path)
    return tls


def _floor(env: LocalEnv) -> None:
    """The bare commands, with the settings env.up uses (the LocalEnv only lends paths and config)."""
    binaries = find_binaries(env.config.postgres_version)
    for directory in (env.state_dir, env.run_dir, env.bouncer_dir, env.log_dir):
        directory.mkdir(mode=0o700)
        _chown(directory)
    password = secrets.token_urlsafe(24)
    pwfile = env.run_dir / "pw"
    pwfile.write_text(password + "\n")
    _chown(pwfile)
    initdb = [binaries.pg("initdb"), "-D", str(env.pgdata), "-U", "postgres", "--pwfile", str(pwfile)]
    initdb += ["--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C"]
    subprocess.run(_as_service(*initdb), check=True, capture_output=True)
    tls = _tls_floor(env)
    conf = env.pgdata / CONF_NAME
    conf.write_text(
        f"listen_addresses = '127.0.0.1'\nport = {env.config.postgres_port}\n"
        f"max_connections = {env.config.max_connections}\nunix_socket_directories = '{env.run_dir}'\n"
        f"ssl = on\nssl_cert_file = '{tls.server_cert}'\nssl_key_file = '{tls.server_key}'\n"
    )
    with (env.pgdata / "postgresql.conf").open("a") as main_conf:
        main_conf.write(f"include '{CONF_NAME}'\n")
    start = [binaries.pg("pg_ctl"), "start", "-D", str(env.pgdata), "-l", str(env.postgres_log), "-w"]
    subprocess.run(_as_service(*start), check=True, capture_output=True)
    (env.bouncer_dir / "userlist.txt").write_text(render_userlist({"postgres": password}))
    ini = env.bouncer_dir / "pgbouncer.ini"
    ini.write_text(render_ini(env.bouncer_settings()))
    for path in (env.bouncer_dir / "userlist.txt", ini):
        _chown(path)
    subprocess.run(_as_service(str(binaries.pgbouncer), "-d", str(ini)), check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold/floor/warm rounds (default 3)")
    runs = parser.parse_args().runs
    packages = ("app", "cli", "ops", "pgbouncer", "stacks", "tasks.py")
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], cwd=REPO_ROOT, check=True)
    cold: list[float] = []
    floor: list[float] = []
    warm: list[float] = []
    warm_cpu: list[float] = []
    cold_cpu: list[float] = []
    floor_cpu: list[float] = []

    def timed_floor(env: LocalEnv) -> None:
        before = _children_cpu()
        floor.append(_timed(lambda: _floor(env)))
        floor_cpu.append(_children_cpu() - before)

    for round_no in range(1, runs + 1):
        root = Path(tempfile.mkdtemp(prefix="pgstack-bench-"))
        root.chmod(0o755)
        stack_file = write_stack_file(root / "Pulumi.local.yaml", throwaway_config())
        state = root / "env"
        # Made before the timing so that a floor failing half-way is still stopped below.
        floor_env = LocalEnv(throwaway_config(), root / "floor")
        try:
            if round_no % 2 == 0:
                timed_floor(floor_env)
            cpu_before = _children_cpu()
            cold.append(_timed(lambda: _invoke("env.up", stack_file, state)))  # noqa: B023 - runs at once
            cold_cpu.append(_children_cpu() - cpu_before)
            cpu_before = _children_cpu()
            warm.append(_timed(lambda: _invoke("env.up", stack_file, state)))  # noqa: B023 - runs at once
            warm_cpu.append(_children_cpu() - cpu_before)
            if round_no % 2 == 1:
                timed_floor(floor_env)
            print(
                f"round {round_no}: cold {cold[-1]:.2f} s, floor {floor[-1]:.2f} s, warm {warm[-1]:.2f} s, "
                f"cold / floor {cold[-1] / floor[-1]:.2f}"
            )
        finally:
            _invoke("env.down", stack_file, state, check=False)
            floor_env.stop_pgbouncer()
            floor_env.stop_postgres()
            shutil.rmtree(root, ignore_errors=True)
    cold_m, floor_m, warm_m = (statistics.median(x) for x in (cold, floor, warm))
    load_1m, _, _ = os.getloadavg()
    print(f"\nmedians over {runs} runs (load average {load_1m:.2f} at the end: other work skews them):")
    print(f"  cold invoke env.up : {cold_m:.2f} s")
    print(f"  floor (raw cmds)   : {floor_m:.2f} s")
    print(warm_line(warm_m))
    print(
        f"  CPU (user + sys, medians): cold {statistics.median(cold_cpu):.2f} s, floor "
        f"{statistics.median(floor_cpu):.2f} s, warm {statistics.median(warm_cpu):.2f} s"
    )
    print(f"  cold / floor       : {cold_m / floor_m:.2f}     (target <= 1.3)")
    rounds = statistics.median(c / f for c, f in zip(cold, floor, strict=True))
    print(
        f"  cold / floor, median of the rounds' ratios: {rounds:.2f}; best cold / best floor: "
        f"{min(cold) / min(floor):.2f}"
    )


if __name__ == "__main__":
    main()
