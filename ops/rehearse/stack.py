"""A stack's rehearsal: the image staged once, then every pooler mode in turn."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ops.errors import UserError
from ops.plan.image import read_image
from ops.rehearse.context import Progress, StandIn
from ops.rehearse.imagestage import stage_image
from ops.rehearse.mode import rehearse_mode
from ops.rehearse.report import ModeResult, Rehearsal
from stacks.config import POOLERS, Key
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack


def check_cloud_stack(stack: str, root: Path = REPO_ROOT) -> None:
    """A UserError unless `stack` is a cloud stack of this project (before anything starts)."""
    values = read_stack(stack, root)
    if values.get(Key.ENVIRONMENT) != "gcp":
        raise UserError(
            f"{stack} is not a cloud stack ({PROJECT}:{Key.ENVIRONMENT} is {values.get(Key.ENVIRONMENT)!r}): "
            "the rehearsal runs Cloud Run containers; pick staging or prod"
        )


def rehearse(
    stack: str,
    stand_in: StandIn,
    poolers: tuple[str, ...] = POOLERS,
    progress: Progress = print,
    dockerfile: Path | None = None,
) -> Rehearsal:
    """Rehearse every container of `stack` in each of `poolers` against `stand_in`.

    The image is the one the plan builds (the checkout's Dockerfile); `dockerfile` stages another
    in its place (a test's broken one, say), and says so.
    """
    unknown = [p for p in poolers if p not in POOLERS]
    if unknown:
        raise UserError(f"unknown pooler {unknown[0]!r}: pick from {', '.join(POOLERS)}")
    report = Rehearsal(stack)
    with tempfile.TemporaryDirectory(prefix="pgstack-rehearse-") as temp:
        root = Path(temp)
        root.chmod(0o755)  # the poolers run as the service user and read their configs here
        model = read_image(dockerfile or REPO_ROOT / "Dockerfile", REPO_ROOT)
        image = stage_image(model, root / "image")
        command = " ".join([*model.entrypoint, *model.cmd])
        progress(f"image: {model.dockerfile} staged: {len(model.files)} COPY sources, {image.packages}")
        progress(f"image: runs {command[:80]}{'...' if len(command) > 80 else ''}")
        for pooler in poolers:
            workdir = root / pooler
            workdir.mkdir(mode=0o755)
            mode = ModeResult(pooler)
            report.modes.append(mode)
            rehearse_mode(
                stack,
                pooler,
                mode,
                stand_in=stand_in,
                image=image,
                workdir=workdir,
                progress=progress,
                expect_dockerfile=dockerfile is None,
            )
    return report
