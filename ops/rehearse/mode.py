"""One pooler mode of a stack, rehearsed: the stack file with `pgstack:pooler` set (and what the
mode needs), its plan and secrets, a fresh stand-in database, then its containers in deploy order
(the job first; the service only when the job passed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ops.errors import UserError
from ops.plan.containers import (
    BUILT_IN,
    image_dockerfile,
    planned_database,
    planned_jobs,
    planned_services,
    secret_ids,
)
from ops.plan.planner import Plan, plan_stack
from ops.plan.resolved import StandInOutputs, secret_contents
from ops.rehearse.context import Mode, Progress, StandIn
from ops.rehearse.imagestage import StagedImage
from ops.rehearse.instance import Instance, instance_ports
from ops.rehearse.job import rehearse_job
from ops.rehearse.pooling import mode_addresses
from ops.rehearse.report import ContainerResult, ModeResult
from ops.rehearse.service import rehearse_service
from stacks.config import ConfigError, Key, cloud_config
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack, stack_file

# What a pooler mode needs beside `pgstack:pooler` (stacks/config refuses it otherwise): managed
# pooling is a Cloud SQL Enterprise Plus feature, on its performance-optimised tiers.
MODE_NEEDS: dict[str, dict[Key, str]] = {
    "managed": {Key.EDITION: "ENTERPRISE_PLUS", Key.TIER: "db-perf-optimized-n-2"}
}


def stack_copy(
    stack: str, pooler: str, directory: Path, root: Path = REPO_ROOT
) -> tuple[Path, dict[str, str]]:
    """Pulumi.<stack>.yaml with `pgstack:pooler` set (and what that mode needs), written into
    `directory`; returns its path and the other keys it changed."""
    source = stack_file(stack, root)
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"no stack file Pulumi.{stack}.yaml: pick a cloud stack (staging, prod)") from None
    config = data.setdefault("config", {})
    config[f"{PROJECT}:{Key.POOLER}"] = pooler
    changed = {}
    already_plus = config.get(f"{PROJECT}:{Key.EDITION}") == "ENTERPRISE_PLUS"
    for key, value in MODE_NEEDS.get(pooler, {}).items():
        if key == Key.TIER and already_plus:
            continue  # already an Enterprise Plus stack: its own tier
        if config.get(f"{PROJECT}:{key}") != value:
            config[f"{PROJECT}:{key}"] = value
            changed[str(key)] = value
    path = directory / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, changed


def rehearse_mode(
    stack: str,
    pooler: str,
    result: ModeResult,
    *,
    stand_in: StandIn,
    image: StagedImage,
    workdir: Path,
    progress: Progress,
    expect_dockerfile: bool = True,
) -> None:
    """Rehearse `stack` with `pgstack:pooler` set to `pooler`, filling in `result`.

    `expect_dockerfile`: the staged image must be the one the plan builds (False: a test staged
    another in its place, and the rehearsal says so).
    """
    path, result.changed = stack_copy(stack, pooler, workdir)
    values = read_stack(stack, REPO_ROOT, path)
    try:
        config = cloud_config(values)
    except ConfigError as exc:
        result.skipped = f"the stack's config refuses it: {exc}"
        progress(f"[{pooler}] not rehearsed: {result.skipped}")
        return
    mode = Mode(stack, pooler, config, stand_in, image, workdir, progress)
    if result.changed:
        changed = ", ".join(f"{k}={v}" for k, v in result.changed.items())
        mode.say(f"with {changed} (what pooler={pooler} needs)")
    plan = plan_stack(stack, REPO_ROOT, path=path)
    _check_image(mode, plan, expect_dockerfile)
    outputs = StandInOutputs(stand_in.password, server_cas=(stand_in.ca_file.read_text(),))
    contents = secret_contents(values, outputs)
    kinds = secret_ids(plan)
    rendered = ", ".join(sorted(kinds.get(s, s) for s in contents))
    mode.say(f"secrets, as the program renders them: {rendered}")
    database = planned_database(plan)
    iam = sorted(user for user, kind in database.users.items() if kind != BUILT_IN)
    if iam:
        users = ", ".join(iam)
        result.skipped = (
            f"IAM database users ({users}) log in with Google tokens, which nothing stands in for here"
        )
        mode.say(f"not rehearsed: {result.skipped}")
        return
    stand_in.fresh_database(database.name, sorted(database.users))
    made = f"database {database.name!r} and users {', '.join(sorted(database.users))}"
    mode.say(f"cloud sql stand-in: {made} as Cloud SQL makes them")
    with mode_addresses(mode, plan, sorted(database.users)) as relocation:
        # Migrate first, as the deploy does; then the service, unless the migration failed.
        for job in planned_jobs(plan):
            instance = Instance(
                workdir / f"job-{job.resource}", relocation.within([]), contents, kinds, mode.mask
            )
            result.containers.append(rehearse_job(mode, job, instance))
        failed_jobs = [c.label for c in result.containers if not c.ok]
        for name, containers in planned_services(plan).items():
            if failed_jobs:
                why = f"{failed_jobs[0]} failed, and the deploy stops there"
                result.containers.extend(ContainerResult(c.label, not_run=why) for c in containers)
                mode.say(f"not run: service {name} ({why})")
                continue
            ports = [port for c in containers for port in instance_ports(c)]
            directory = workdir / f"service-{name}"
            instance = Instance(directory, relocation.within(ports), contents, kinds, mode.mask)
            result.containers.extend(rehearse_service(mode, name, containers, instance))


def _check_image(mode: Mode, plan: Plan, expect_dockerfile: bool) -> None:
    """The staged image is the one the plan builds (or the plan builds none), or a UserError."""
    dockerfile = image_dockerfile(plan)
    staged = mode.image.model.dockerfile
    if dockerfile is None:
        mode.say(f"the stack deploys a prebuilt image: rehearsing this checkout's {staged} instead")
    elif (REPO_ROOT / dockerfile).resolve() != (REPO_ROOT / staged).resolve():
        if expect_dockerfile:
            raise UserError(f"the plan builds {dockerfile}, the rehearsal staged {staged}")
        mode.say(f"the plan builds {dockerfile}: rehearsing {staged} in its place, as asked")
