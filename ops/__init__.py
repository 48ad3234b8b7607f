"""pgstack's operations library, one wing per concern; each wing's docstring says its job and the
import contracts that place it. A wing is named after the task it serves (`smoke`, `rehearse`,
`compat`, `deploy`, `lint`, `plan`); "check" is left to the two tasks that compare what is with what
should be: `db.check` (`ops/migrate/check.py`) and `infra.check` (the plan's policies).

- `ops.migrate`: the migrator (the Cloud Run migration job; the only wing the image ships).
- `ops.local`: the local runtimes (native processes, the Docker stack) behind one interface.
- `ops.plan`: the offline plan of a stack under Pulumi mocks, its diff and its policies.
- `ops.smoke`: the smoke checks of a running environment, and the app server they start.
- `ops.rehearse`: the rehearsal of a cloud stack's containers against a local stand-in.
- `ops.compat`: whether the serving release's code still works on this tree's schema (`db.compat`).
- `ops.deploy`: the migrate-first deploy sequence (`invoke deploy`).
- `ops.cloud`: the real command-line tools (the Pulumi CLI) the infra tasks and the Docker runtime drive.
- `ops.lint`: the migration lint, each revision's offline SQL checked by squawk (dev only).
- `ops.errors`: `UserError`, the one error a user can cause.

Import rules: the contracts in pyproject.toml's `[tool.importlinter]`, which `invoke lint` checks
(docs/architecture.md states them in prose). A wing's docstring names the contracts that place it.
"""
