"""The deploy of a cloud stack, migrate-first: preflight, the image and the migration job (targeted
`pulumi up`), the migration through the job, the rest (`pulumi up` with the policy pack),
verification, then the contract phase; the way back (traffic to an earlier revision); and the
commands a new project needs before its first deploy.

Its imports: the top of the `ops-wings` contract (pyproject.toml [tool.importlinter]): it uses
`ops.compat` (the preflight's rollout check), `ops.plan`, `ops.lint`, `ops.cloud` and `ops.migrate`
(the job's contract, the revisions).
"""
