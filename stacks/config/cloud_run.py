"""A cloud stack's Cloud Run service and its pooler (a PgBouncer sidecar, Cloud SQL's managed
pooling, or none)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks.config.keys import Key
from stacks.config.reader import CPUS, IMAGE, Reader

POOLERS = ("sidecar", "managed", "none")
INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
# The oldest PgBouncer the sidecar may run: 1.23 made SIGTERM a graceful shutdown (it waits for
# the clients in flight), where older ones exit at once, cutting queries when an instance stops.
SIDECAR_PGBOUNCER_MIN = (1, 23)

_MEMORY = re.compile(r"\d+(Mi|Gi)")
_OPTIONAL_IMAGE = re.compile(r"|[a-z0-9][a-z0-9._/:@-]*")
# An image pinned to one build: a tag naming an exact x.y.z version (any suffix, e.g. -p0), with or
# without a digest after it. `latest`, `1` or `1.23` would move under the stack.
_PINNED_PGBOUNCER = re.compile(
    r"[a-z0-9][a-z0-9._/-]*:v?(?P<major>\d+)\.(?P<minor>\d+)\.\d+[a-z0-9._-]*(@sha256:[0-9a-f]{64})?"
)


@dataclass(frozen=True)
class CloudRunConfig:
    """The Cloud Run service and its pooler."""

    image: str | None  # None: build the Dockerfile and push it to the stack's registry
    image_keep_count: int
    cpu: str
    memory: str
    min_instances: int
    max_instances: int
    concurrency: int
    ingress: str  # the Cloud Run v2 enum value, e.g. INGRESS_TRAFFIC_ALL
    public: bool
    pooler: str  # sidecar | managed | none
    pgbouncer_image: str
    app_pool_size: int
    app_max_overflow: int


def pinned_pgbouncer_problem(image: str) -> str | None:
    """Why `image` is not fit for the sidecar (not pinned to one version, or older than 1.23)."""
    match = _PINNED_PGBOUNCER.fullmatch(image)
    if match is None:
        return (
            "is not pinned to one PgBouncer version: use a tag naming an exact version "
            "(e.g. edoburu/pgbouncer:v1.26.0-p0), optionally with @sha256:<digest>"
        )
    version = (int(match["major"]), int(match["minor"]))
    if version < SIDECAR_PGBOUNCER_MIN:
        shown = ".".join(map(str, SIDECAR_PGBOUNCER_MIN))
        return (
            f"runs PgBouncer {version[0]}.{version[1]}, older than {shown}: it exits at once on "
            "SIGTERM, cutting queries in flight when Cloud Run stops an instance"
        )
    return None


def read_cloud_run(read: Reader) -> CloudRunConfig:
    image = read.text(Key.IMAGE, _OPTIONAL_IMAGE, "an image reference, or empty to build the Dockerfile")
    ingress = read.choice(Key.INGRESS, tuple(INGRESS))
    run = CloudRunConfig(
        image=image or None,
        image_keep_count=read.integer(Key.IMAGE_KEEP_COUNT, 1, 1000),
        cpu=read.text(Key.CPU, CPUS, "a number of vCPUs such as 1 or 2"),
        memory=read.text(Key.MEMORY, _MEMORY, "a size such as 512Mi or 1Gi"),
        min_instances=read.integer(Key.MIN_INSTANCES, 0, 1000),
        max_instances=read.integer(Key.MAX_INSTANCES, 1, 1000),
        concurrency=read.integer(Key.CONCURRENCY, 1, 1000),
        ingress=INGRESS[ingress],
        public=read.boolean(Key.PUBLIC),
        pooler=read.choice(Key.POOLER, POOLERS),
        pgbouncer_image=read.text(Key.PGBOUNCER_IMAGE, IMAGE, "an image reference"),
        app_pool_size=read.integer(Key.APP_POOL_SIZE, 1, 1000),
        app_max_overflow=read.integer(Key.APP_MAX_OVERFLOW, 0, 1000),
    )
    if run.min_instances > run.max_instances:
        raise read.fail(
            Key.MIN_INSTANCES,
            f"({run.min_instances}) must not exceed {Key.MAX_INSTANCES} ({run.max_instances})",
        )
    if run.pooler == "sidecar":
        problem = pinned_pgbouncer_problem(run.pgbouncer_image)
        if problem:
            raise read.fail(Key.PGBOUNCER_IMAGE, f"{problem} (got {run.pgbouncer_image!r})")
    return run
