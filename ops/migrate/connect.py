"""The migrator's first connection on a cold network: Cloud Run jobs on Direct VPC egress may wait a
minute or more for their network, so a refused or timed-out connection is retried with backoff up to
a bound (MIGRATE_CONNECT_TIMEOUT_S), one progress line per attempt. Anything else fails at once: a
wrong password, role or database, an untrusted server certificate, and the URL's own mistakes (a port
out of range, an unknown sslmode, a host name that does not resolve) are not the network warming up."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from sqlalchemy import Connection, pool
from sqlalchemy import create_engine as sqlalchemy_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import OperationalError

from app.dberrors import error_line
from app.urls import mask_url
from ops.errors import UserError

# libpq reports connection failures without a SQLSTATE: the server's FATAL text is what tells a
# rejected login (which no retry fixes) from a network that is not there yet.
_REJECTED = re.compile(
    r"authentication failed|no pg_hba\.conf entry|pg_hba\.conf rejects|role \".*\" does not exist"
    r"|database \".*\" does not exist|not permitted to log in|permission denied for database"
    r"|no password supplied",
)
# Nor does a server certificate the client does not trust: the wrong CA, or another host's name.
_UNTRUSTED = re.compile(
    r"certificate verify failed|root certificate file .* does not exist|server certificate for .* does not "
    r"match host name|could not read root certificate"
)
# What a wait can heal, and nothing else: a server not listening yet or restarting, a network not
# there yet (refused, unreachable, timed out, a transient DNS failure: EAI_AGAIN), a proxy that
# accepted and hung up while it starts, a full server. An allow-list: an error libpq may word in a
# new way fails at once, which costs a rerun, where a deny-list would cost the whole bound.
_TRANSIENT = re.compile(
    r"Connection refused|timeout expired|timed out|Network is unreachable|No route to host"
    r"|Temporary failure in name resolution|Connection reset by peer"
    r"|server closed the connection unexpectedly|the database system is (?:starting up|shutting down"
    r"|in recovery mode|not yet accepting connections)|too many clients already"
    r"|remaining connection slots are reserved",
    re.IGNORECASE,
)
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 10.0
_ATTEMPT_TIMEOUT_S = 10  # libpq's connect_timeout for one attempt (it counts whole seconds, 2 at least)


def rejected(exc: OperationalError) -> bool:
    """True when the server refused the login itself (password, role, database, pg_hba.conf)."""
    return bool(_REJECTED.search(str(exc.orig or exc)))


def transient(exc: OperationalError) -> bool:
    """True when waiting may heal the failure (see _TRANSIENT): the only errors worth a retry."""
    return bool(_TRANSIENT.search(str(exc.orig or exc))) and not rejected(exc)


def open_connection(
    url: URL,
    application_name: str,
    *,
    bound_s: float,
    progress: Callable[[str], None],
    hint: str,
) -> tuple[Engine, Connection]:
    """A NullPool engine and its first connection, retrying an unreachable server for up to
    `bound_s` seconds (0: one attempt). `hint` ends the error line: where the database should be."""
    started = time.monotonic()
    delay = _FIRST_DELAY_S
    attempt = 0
    while True:
        attempt += 1
        left = bound_s - (time.monotonic() - started)
        timeout = min(_ATTEMPT_TIMEOUT_S, max(2, math.ceil(left)))
        engine = sqlalchemy_engine(
            url,
            poolclass=pool.NullPool,
            connect_args={"application_name": application_name, "connect_timeout": timeout},
        )
        try:
            return engine, engine.connect()
        except OperationalError as exc:
            engine.dispose()
            line = error_line(exc)
            if _UNTRUSTED.search(str(exc.orig or exc)):
                raise UserError(
                    f"cannot connect to {mask_url(url)}: the server's certificate is not trusted ({line}); "
                    "check the CA the client verifies with (PGSSLROOTCERT, sslrootcert) and the host "
                    "name (no retry: waiting would not help)"
                ) from None
            if rejected(exc):
                raise UserError(
                    f"cannot connect to {mask_url(url)}: the server refused the login ({line}); check "
                    "the user, password and database name of the URL (no retry: waiting would not help)"
                ) from None
            if not transient(exc):
                raise UserError(
                    f"cannot connect to {mask_url(url)} ({line}): check the URL's host, port, sslmode "
                    "and other parameters (no retry: waiting would not help)"
                ) from None
            elapsed = time.monotonic() - started
            if elapsed >= bound_s:
                tried = f" after {elapsed:.0f}s and {attempt} attempts" if attempt > 1 else ""
                raise UserError(f"cannot connect to {mask_url(url)}{tried} ({line}): {hint}") from None
            pause = min(delay, bound_s - elapsed)  # the last attempt lands on the bound
            progress(
                f"database not reachable yet ({line}): attempt {attempt} failed after {elapsed:.1f}s, "
                f"retrying in {pause:.1f}s (MIGRATE_CONNECT_TIMEOUT_S={bound_s:g})"
            )
            time.sleep(pause)
            delay = min(delay * 2, _MAX_DELAY_S)
