"""pgstack's operations library, one wing per concern; each wing's docstring says its job and the
import contracts that place it.

- `ops.migrate`: the migrator (the Cloud Run migration job; the only wing the image ships).
- `ops.local`: the local runtimes (native processes, the Docker stack) behind one interface.
- `ops.plan`: the offline plan of a stack under Pulumi mocks, its diff and its policies.
- `ops.checks`: smoke checks of a running environment, the app server they start, and the rehearsal
  of a cloud stack's containers against a local stand-in.
- `ops.cloud`: the real command-line tools (the Pulumi CLI) the infra tasks and the Docker runtime drive.
- `ops.lint`: the migration lint, each revision's offline SQL checked by squawk (dev only).
- `ops.errors`: `UserError`, the one error a user can cause.

Import rules: the contracts in pyproject.toml's `[tool.importlinter]`, which `invoke lint` checks
(docs/architecture.md states them in prose). A wing's docstring names the contracts that place it.
"""
