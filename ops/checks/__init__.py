"""Checks of a running environment: the smoke checks (connections, migrations, the app, PgBouncer's
pools) and the app server they start; and the rehearsal of a cloud stack's containers (the plan's
job, app and sidecar run here against a local stand-in for Cloud SQL).

Its imports: contracts `ops-wings` (the top wing: it reads what the plan gives each container) and
`checks-handed-runtime` (of `ops.local`, only `processes`, for free ports: the runtime or
stand-in itself is handed in, its pools as a callable, a `StandIn`, never built here).
"""
