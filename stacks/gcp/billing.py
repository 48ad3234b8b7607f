"""How Cloud Run bills the service's instances: one setting that every container of an instance repeats.

Request-based billing: CPU only while requests are in flight (and during start-up and shutdown),
which is all the app and its PgBouncer sidecar need. It is a setting of the whole instance (v1's
`run.googleapis.com/cpu-throttling` annotation, gcloud's `--[no-]cpu-throttling`), but the v2 API
spells it per container as `resources.cpu_idle`, and a container that sets `resources` without it
gets false, the other mode. So each container sets it, to this one value, and the instance is never
asked for both.
"""

from __future__ import annotations

CPU_IDLE = True
