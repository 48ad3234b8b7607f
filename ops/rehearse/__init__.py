"""Rehearse a stack's Cloud Run containers here, before a deploy finds out: each container of the
offline plan (the migration job; the service's app and its PgBouncer sidecar) run as a local process
against a local stand-in for Cloud SQL, for each pooler mode (sidecar, managed, none).

What each container gets is what the plan gives it, and what Cloud Run and the image add:
- the command: the plan's `commands`/`args` over the image's ENTRYPOINT/CMD (read from the
  Dockerfile the plan builds), run in a copy of the files the image ships (its COPY lines) with an
  interpreter that sees only those (not this checkout's editable install);
- the env: the image's ENV, the variables Cloud Run sets (PORT, K_SERVICE, CLOUD_RUN_JOB...), the
  plan's values, and each secret reference replaced by what that secret would hold: the program's
  own rendering (ops.plan.resolved) with the stand-ins' password, then every cloud address in it
  moved to its local stand-in (Cloud SQL's private IP -> the local Postgres, the instance's
  loopback ports -> free local ports, mount paths -> temp dirs);
- secret volumes: files in a temp dir, with the planned modes;
- the sidecar: the local PgBouncer on the mounted, relocated pgbouncer.ini;
- the probes: the planned startup and liveness probes within their planned deadlines, and the
  app's /readyz once the job has migrated.

The managed pooler is approximated by a PgBouncer with the flags the plan gives Cloud SQL, with TLS
on both sides. The stand-in itself is handed in (a `StandIn`), never built here: contracts
`ops-wings` and `handed-runtime` place this wing.

The rooms: `stack` (the entry: `rehearse`, `check_cloud_stack`), `mode` (one pooler mode: the stack
file, plan, secrets and the containers in deploy order), `context` (what a mode's containers
share; the `StandIn` protocol), `instance` (one instance's temp dir, secrets, volumes and probes),
`job`, `service` (the app and its sidecar), `pooling` (the addresses, and the managed pooler's
stand-in), `report` (what was found), `relocate` (cloud addresses moved to the stand-ins),
`imagestage` (the image's files, staged here) and `imagevenv` (its packages: a venv kept between
runs).
"""

from ops.rehearse.context import StandIn
from ops.rehearse.mode import MODE_NEEDS, stack_copy
from ops.rehearse.report import ContainerResult, ModeResult, Rehearsal
from ops.rehearse.stack import check_cloud_stack, rehearse

__all__ = [
    "MODE_NEEDS",
    "ContainerResult",
    "ModeResult",
    "Rehearsal",
    "StandIn",
    "check_cloud_stack",
    "rehearse",
    "stack_copy",
]
