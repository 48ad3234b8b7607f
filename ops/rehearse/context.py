"""What every container of one pooler mode shares: the stack and its config, the stand-in for
Cloud SQL (handed in, never built here), the staged image, the mode's temp dir, and how progress
is reported (masked: the stand-in's password never shows)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.urls import mask_secrets
from ops.plan.containers import PlannedContainer
from ops.rehearse.imagestage import BASE_PATH, StagedImage
from ops.rehearse.relocate import ContractBreak
from ops.rehearse.report import ContainerResult
from stacks.config import CloudConfig

Progress = Callable[[str], None]


class StandIn(Protocol):
    """The local stand-in for Cloud SQL (ops.local.standin.CloudSqlStandIn)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def password(self) -> str: ...

    @property
    def cert_file(self) -> Path: ...

    @property
    def key_file(self) -> Path: ...

    @property
    def ca_file(self) -> Path: ...

    def fresh_database(self, database: str, users: list[str]) -> None: ...

    def pgbouncer(self, ini: Path, log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]: ...


def masker(password: str) -> Callable[[str], str]:
    """Masks URLs' passwords and the stand-in's password wherever it appears."""
    return lambda text: mask_secrets(text).replace(password, "***")


@dataclass(frozen=True)
class Mode:
    """One pooler mode of one stack, once its config is read."""

    stack: str
    pooler: str
    config: CloudConfig
    stand_in: StandIn
    image: StagedImage
    workdir: Path
    progress: Progress

    def mask(self, text: str) -> str:
        return masker(self.stand_in.password)(text)

    def say(self, line: str) -> None:
        self.progress(f"[{self.pooler}] {line}")

    def passed(self, result: ContainerResult) -> None:
        self.say(f"ok   {result.label}")
        for step in result.steps:
            self.progress(f"       {step}")
        for warning in result.warnings:
            self.progress(f"       WARNING: {warning}")

    def fail(self, result: ContainerResult) -> None:
        self.say(f"FAIL {result.label}: {result.error}")
        for line in result.log_tail:
            self.progress(f"    | {line}")

    def argv(self, container: PlannedContainer) -> list[str]:
        """The container's command as the image runs it, its program found on the image's PATH."""
        argv = container.argv(self.image.model.entrypoint, self.image.model.cmd)
        if not argv:
            raise ContractBreak("has no command: neither the plan nor the image gives one")
        found = shutil.which(argv[0], path=self.image.env().get("PATH", BASE_PATH))
        if found is None:
            raise ContractBreak(f"its command {argv[0]!r} is not on the image's PATH")
        return [found, *argv[1:]]
