"""The app image, standing in here: the files its Dockerfile copies (ops.plan.image's model) staged
in a temp dir that stands for the image's `/`, and its virtualenv where the image has it (the
venv of the image's packages kept by `imagevenv`, or shims over this venv's packages when those
cannot be installed here). Either way the code seen is the staged code only, never the checkout's
editable install.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError
from ops.plan.image import ImageModel
from ops.rehearse.imagevenv import CACHE_DIR, image_venv
from stacks.stackfile import REPO_ROOT

# Docker's PATH for an image that sets none; the image's ENV PATH builds on it.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class StagedImage:
    """The image's files and interpreter, here: `root` stands for the image's `/`, `venv` for its
    virtualenv's directory."""

    model: ImageModel
    root: Path
    venv: Path | None = None
    packages: str = "none"  # how the venv was made, for the progress line

    def local(self, path: str) -> Path:
        """Where a path of the image is here."""
        image_venv = self.model.venv
        if (
            self.venv is not None
            and image_venv
            and (path == image_venv or path.startswith(image_venv.rstrip("/") + "/"))
        ):
            return self.venv / path[len(image_venv.rstrip("/")) :].lstrip("/")
        return self.root / path.lstrip("/")

    def env(self) -> dict[str, str]:
        """The image's ENV, its paths moved here (system directories stay the host's)."""
        staged = [self.model.workdir, *([self.model.venv] if self.model.venv else [])]

        def move(part: str) -> str:
            if any(part == p or part.startswith(p.rstrip("/") + "/") for p in staged):
                return str(self.local(part))
            return part

        env = {}
        for key, raw in self.model.env.items():
            value = raw.replace("${PATH}", BASE_PATH).replace("$PATH", BASE_PATH)
            env[key] = ":".join(move(part) for part in value.split(":"))
        env.setdefault("PATH", BASE_PATH)
        return env

    @property
    def workdir(self) -> Path:
        return self.local(self.model.workdir)


def stage_image(model: ImageModel, directory: Path, root: Path = REPO_ROOT) -> StagedImage:
    """Copy the files the image ships under `directory` and put an interpreter where its venv is."""
    staged = StagedImage(model, directory)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source, destination in model.files:
        src, dst = root / source, staged.local(destination)
        if not src.exists():
            raise UserError(f"{model.dockerfile} copies {source}, which does not exist")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    staged.workdir.mkdir(parents=True, exist_ok=True)
    if not model.venv:
        return staged
    requirements = root / model.requirements if model.requirements else None
    venv, packages = image_venv(requirements, str(model.requirements), model.compiled, root / CACHE_DIR)
    if model.compiled:  # as the image's build does: a cold start pays no compilation of its code
        python = str(venv / "bin" / "python")
        subprocess.run([python, "-m", "compileall", "-q", str(directory)], capture_output=True, check=False)
    return StagedImage(model, directory, venv, packages)
