"""Checks of a running environment: the smoke checks (connections, migrations, the app, PgBouncer's
pools) and the app server they start.

May import `app`, `stacks`, `ops.errors`, `ops.migrate` and `ops.local.processes` (free ports);
the runtime itself is handed in (its pools as a callable), never built here.
"""
