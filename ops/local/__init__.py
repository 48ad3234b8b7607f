"""The local environment's runtimes behind one interface (`ops.local.runtime.Runtime`): native
processes (a state directory, Postgres, PgBouncer) and the Docker stack (through its Pulumi stack).

Both read the same `Pulumi.local.yaml`, so ports, names and pool sizes agree. Its imports: contract
`ops-wings` (above `ops.cloud`: the Docker runtime drives its stack with the Pulumi CLI).
"""
