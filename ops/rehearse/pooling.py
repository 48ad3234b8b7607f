"""A pooler mode's addresses: Cloud SQL's private IP moved to the stand-in Postgres and, with
managed pooling, a PgBouncer standing in for Cloud SQL's managed pooler (the plan's flags, TLS on
both sides)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ops.errors import UserError
from ops.local.processes import free_port
from ops.plan.containers import managed_pool_flags
from ops.plan.planner import Plan
from ops.plan.resolved import STAND_IN_PRIVATE_IP
from ops.rehearse.context import Mode
from ops.rehearse.instance import wait_tcp
from ops.rehearse.relocate import LOOPBACK, ContractBreak, Relocation
from pgbouncer import PgBouncerSettings, render_ini, render_userlist


@contextlib.contextmanager
def mode_addresses(mode: Mode, plan: Plan, users: list[str]) -> Iterator[Relocation]:
    """The mode's addresses; with managed pooling, a PgBouncer standing in for the pooler."""
    from stacks.gcp.database import MANAGED_POOLER_PORT, POSTGRES_PORT

    stand_in, config = mode.stand_in, mode.config
    postgres = (STAND_IN_PRIVATE_IP, POSTGRES_PORT)
    addresses = {postgres: (stand_in.host, stand_in.port)}
    names = {postgres: "Cloud SQL (the stand-in Postgres)"}
    flags = managed_pool_flags(plan)
    if flags is None:
        yield Relocation(addresses, names)
        return
    port = free_port()
    pooler = (STAND_IN_PRIVATE_IP, MANAGED_POOLER_PORT)
    addresses[pooler] = (LOOPBACK, port)
    names[pooler] = "Cloud SQL's managed pooler (a PgBouncer stand-in)"
    directory = mode.workdir / "managed-pooler"
    directory.mkdir(mode=0o755)
    settings = PgBouncerSettings(
        database=config.database,
        server_host=stand_in.host,
        server_port=stand_in.port,
        listen_port=port,
        admin_user=config.roles.owner,
        auth_file=str(directory / "userlist.txt"),
        pool_mode=flags.get("pool_mode", "transaction"),
        default_pool_size=int(flags.get("max_pool_size", "10")),
        max_client_conn=int(flags.get("max_client_connections", "100")),
        reserve_pool_size=0,
        server_tls_sslmode="require",
    )
    # Clients reach the managed pooler as they reach the instance: over TLS.
    tls = (
        f"client_tls_sslmode = require\nclient_tls_cert_file = {stand_in.cert_file}\n"
        f"client_tls_key_file = {stand_in.key_file}\n"
    )
    userlist = directory / "userlist.txt"
    userlist.write_text(render_userlist(dict.fromkeys(users, stand_in.password)))
    ini = directory / "pgbouncer.ini"
    ini.write_text(render_ini(settings) + tls)
    for path in (userlist, ini):
        path.chmod(0o644)
    log = directory / "pgbouncer.log"
    with stand_in.pgbouncer(ini, log) as process:
        try:
            wait_tcp(port, 15, lambda: process.poll() is None)
        except ContractBreak as exc:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            raise UserError(f"the managed pooler's stand-in did not start ({exc}): {tail}") from None
        shown = ", ".join(f"{k}={v}" for k, v in flags.items())
        mode.say(f"managed pooler stand-in: PgBouncer with the plan's flags ({shown}) on :{port}")
        yield Relocation(addresses, names)
