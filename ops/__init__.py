"""pgstack's operations library, one wing per concern; each wing's docstring says its job and what
it may import.

- `ops.migrate`: the migrator (the Cloud Run migration job; the only wing the image ships).
- `ops.local`: the local runtimes (native processes, the Docker stack) behind one interface.
- `ops.plan`: the offline plan of a stack under Pulumi mocks, its diff and its policies.
- `ops.checks`: smoke checks of a running environment, the app server they start, and the rehearsal
  of a cloud stack's containers against a local stand-in.
- `ops.cloud`: the real command-line tools (the Pulumi CLI) the infra tasks and the Docker runtime drive.
- `ops.lint`: the migration lint, each revision's offline SQL checked by squawk (dev only).
- `ops.errors`: `UserError`, the one error a user can cause.

Import rules: every wing may import `app`, `stacks`, `pgbouncer`, `ops.errors` and `ops.migrate`;
`ops.migrate` imports only `app` and `ops.errors` (it must run from the image); `ops.checks` may
also import `ops.plan` and `ops.local.processes` (it is handed the runtime, never builds it); no
wing imports the task layer (`cli/`), and no import cycles.
"""
