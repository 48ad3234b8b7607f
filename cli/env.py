"""env: the local environment (Postgres + PgBouncer) - up, down, reset, status, url, logs."""

from __future__ import annotations

import json
import shlex
import sys
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from app.urls import mask_url
from cli import edge
from cli.edge import RUNTIME_HELP
from cli.errors import reported
from ops.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from ops.local.status import EnvStatus
    from ops.migrate.target import DatabaseTarget


def _progress(message: str) -> None:
    print(f"  {message}", flush=True)


def _format_status(status: EnvStatus) -> list[str]:
    lines = []
    for proc in (status.postgres, status.pgbouncer):
        state = "up" if proc.running else "down"
        pid = f"pid {proc.pid}" if proc.pid else "pid -"
        version = proc.version or "-"
        lines.append(f"  {proc.name:<10} {state:<5} {pid:<11} 127.0.0.1:{proc.port:<6} {version}")
    for pool in status.pools:
        paused = " PAUSED," if int(pool.get("paused") or 0) else ""
        lines.append(
            f"  pool {pool['database']}/{pool['user']}:{paused} {pool['pool_mode']}, clients active "
            f"{pool['cl_active']} waiting {pool['cl_waiting']}, servers active {pool['sv_active']} "
            f"idle {pool['sv_idle']}"
        )
    return lines


@task(help={"runtime": RUNTIME_HELP})
def up(c: Context, runtime: str = "auto") -> None:
    """Start Postgres and PgBouncer (initialising .local/ on first use); safe to run again.

    Ports, names and pool sizes come from Pulumi.local.yaml (PGSTACK_STACK_FILE names another file);
    the native runtime keeps its cluster, logs and generated password in .local/ (PGSTACK_STATE_DIR
    moves it). A changed setting restarts the process it concerns. Prints the direct and pooled
    URLs, password masked. `invoke up` does this, then migrates and smoke-checks.
    """
    with reported():
        print("local environment:", flush=True)
        edge.print_urls(*edge.runtime(runtime).start(_progress))


@task(help={"runtime": RUNTIME_HELP})
def down(c: Context, runtime: str = "") -> None:
    """Stop Postgres and PgBouncer; the data stays for the next `env.up`.

    Native: the processes (state in .local/ or PGSTACK_STATE_DIR); Postgres stops with a fast
    shutdown (open transactions roll back). Docker: the local stack's containers are destroyed,
    its data volume kept.
    """
    with reported():
        edge.runtime(runtime).down(_progress)


@task(
    help={
        "yes": "confirm: delete the local cluster, its data and the generated password",
        "runtime": RUNTIME_HELP,
    }
)
def reset(c: Context, yes: bool = False, runtime: str = "") -> None:
    """Stop everything and DELETE the local data (.local/); refuses without --yes.

    Native: deletes the state directory (.local/ or PGSTACK_STATE_DIR): every database in the
    cluster (the `db.snapshot` snapshots too) and the generated password; the next `env.up` starts
    from an empty cluster (`db.reset --yes` rebuilds just the app's schema instead). A directory
    pgstack did not create is refused and left as it is. Docker: destroys the local stack and
    removes its data volume.
    """
    with reported():
        chosen = edge.runtime(runtime)
        if not yes:
            where = getattr(chosen, "state_dir", "the local stack's volume")
            raise Exit(
                f"error: env.reset deletes {where} and every database in it: "
                "run `invoke env.reset --yes` to confirm (nothing was deleted)",
                code=1,
            )
        chosen.reset(_progress)


@task(help={"json": "print the status as JSON (for scripts and CI)", "runtime": RUNTIME_HELP})
def status(c: Context, json_: bool = False, runtime: str = "") -> None:
    """Show each process: up/down, pid, port, version, and PgBouncer's pools.

    Also says what a killed task left (a PgBouncer pool still paused, a half-made snapshot copy),
    which `env.up` undoes, and what a running snapshot operation holds up.
    Exit code 0 when both run and serve, 3 when either is down, 4 when a pool is paused or a killed
    task left something (scripts can wait on it).
    """
    with reported():
        chosen = edge.runtime(runtime)
        current = chosen.status()
        if json_:
            payload = {
                "runtime": current.runtime,
                "state_dir": str(current.state_dir) if current.state_dir else None,
                "initialised": current.initialised,
                "processes": [
                    {
                        "name": p.name,
                        "running": p.running,
                        "pid": p.pid,
                        "port": p.port,
                        "version": p.version,
                    }
                    for p in (current.postgres, current.pgbouncer)
                ],
                "pools": current.pools,
                "leftovers": current.leftovers,
                "in_progress": current.in_progress,
            }
            print(json.dumps(payload, indent=2, default=str))
        else:
            if not current.initialised:
                print(f"no local environment in {current.state_dir}: `invoke env.up` creates it")
            print("\n".join(_format_status(current)))
            for line in current.in_progress:
                print(f"  in progress: {line}")
            for line in current.leftovers:
                print(f"  left by a killed task: {line}")
            if current.leftovers:
                print("  `invoke env.up` undoes what killed tasks left")
        if not current.running:
            raise Exit(code=3)
        if current.leftovers or not current.serving:
            raise Exit(code=4)


URL_FORMATS = ("text", "env", "json")


def _render(url: URL | None, show_password: bool) -> str | None:
    if url is None:
        return None
    return url.render_as_string(hide_password=False) if show_password else mask_url(url)


def url_variables(target: DatabaseTarget, show_password: bool) -> dict[str, str]:
    """The app's settings for `target` (what `--format env` prints), passwords masked unless asked."""
    variables = target.environ()
    for key, value in (("DATABASE_URL", target.app_url), ("DIRECT_DATABASE_URL", target.direct_url)):
        variables[key] = _render(value, show_password) or ""
    return variables


@task(
    help={
        "show_password": "print the URLs with the real password (it is masked otherwise)",
        "format": "text (default: for people), env (KEY=value lines for a .env file or `eval`), "
        "or json (for scripts)",
        "runtime": RUNTIME_HELP,
    }
)
def url(c: Context, show_password: bool = False, format: str = "text", runtime: str = "") -> None:
    """Print the direct and pooled connection URLs (password masked unless --show-password).

    Direct goes straight to Postgres: migrations, psql, admin work. Pooled goes through PgBouncer
    (transaction pooling: no prepared statements, no session state): the app. With
    PGSTACK_RUNTIME=docker, the Docker stack's URLs. `--format env --show-password` writes the app's
    settings (DATABASE_URL, DIRECT_DATABASE_URL, DB_SCHEMA, DB_POOL_MODE) as shell-quoted lines:
    `eval "$(invoke env.url --format env --show-password)"`, or redirect them into a .env file.
    """
    with reported():
        if format not in URL_FORMATS:
            raise UserError(f"--format must be one of {', '.join(URL_FORMATS)} (got {format!r})")
        chosen = edge.runtime(runtime)
        target = chosen.target()
        if format == "text":
            edge.print_connection_help(target, show_password)
        elif format == "env":
            if not show_password:
                # A comment, so the output stays a valid .env file and `eval` input.
                print("# passwords masked: add --show-password for values that connect")
            for key, value in url_variables(target, show_password).items():
                print(f"{key}={shlex.quote(value)}")
        else:
            payload = {
                "runtime": chosen.name,
                "direct_url": _render(target.direct_url, show_password),
                "pooled_url": _render(target.pooled_url, show_password),
                "schema": target.schema,
                "database": target.direct_url.database,
                "passwords_masked": not show_password,
            }
            print(json.dumps(payload, indent=2))


@task(
    help={
        "service": "postgres or pgbouncer (default: both, each line prefixed by its service)",
        "follow": "keep printing new lines as they are written, until Ctrl-C",
        "lines": "how many of the last lines to print first (default 50)",
        "runtime": RUNTIME_HELP,
    },
    iterable=["service"],
)
def logs(
    c: Context, service: list[str] | None = None, follow: bool = False, lines: int = 50, runtime: str = ""
) -> None:
    """Show the last lines of Postgres's and PgBouncer's logs; --follow keeps printing new ones."""
    from ops.local import logs as service_logs

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    with reported():
        if lines < 0:
            raise UserError(f"--lines must be 0 or more (got {lines})")
        files = edge.runtime(runtime).log_files()
        chosen = list(service or [])
        service_logs.show(files, chosen, lines, write)
        if follow:
            try:
                service_logs.follow(files, chosen, write)
            except KeyboardInterrupt:
                return  # Ctrl-C is how a follow ends: not an error
