"""The smoke checks of a running environment (`invoke smoke`: connections direct and pooled, the
runtime role's privileges, the migrations, the app's endpoints, PgBouncer's pools) in `checks`, and
the app server they start, which the rehearsal and `db.compat` start too, in `appserver`.

Its imports: contracts `ops-wings` and `handed-runtime` (of `ops.local`, only `processes`, for free
ports: the runtime itself is handed in, its pools as a callable, never built here).
"""
