"""The app image, standing in here: the files its Dockerfile copies (ops.plan.image's model) staged
in a temp dir that stands for the image's `/`, and its virtualenv where the image has it: a fresh
venv holding exactly the packages the Dockerfile installs (its requirements file, with uv, as
tests/test_image.py does), or, when those cannot be installed here (no uv, no network and a cold
cache), shims that run this checkout's Python without `site` over this venv's packages (a superset).
Either way the code seen is the staged code only, never the checkout's editable install.

A venv is built once per process and requirements file (six seconds or so, mostly compiling), and
shared by every staging of the same image in that process; it is deleted when the process ends.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError
from ops.plan.image import ImageModel
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


def _shim(python: str, site: str, target: str | None) -> str:
    run = f'exec "{python}" -S "{target}" "$@"' if target else f'exec "{python}" -S "$@"'
    return (
        "#!/bin/sh\n"
        "# The image's interpreter, standing in: no site (so no editable install of the checkout),\n"
        "# the packages from the venv, the code from the image's PYTHONPATH only.\n"
        f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}" {run}\n'
    )


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
    venv, packages = _venv(model, root)
    if model.compiled:  # as the image's build does: a cold start pays no compilation of its code
        python = str(venv / "bin" / "python")
        subprocess.run([python, "-m", "compileall", "-q", str(directory)], capture_output=True, check=False)
    return StagedImage(model, directory, venv, packages)


_VENVS: dict[str, tuple[Path, str]] = {}


def _venv(model: ImageModel, root: Path) -> tuple[Path, str]:
    """The image's venv for this process (built on first use), and how it was made."""
    requirements = root / model.requirements if model.requirements else None
    text = requirements.read_text() if requirements is not None and requirements.is_file() else ""
    key = hashlib.sha256(f"{sys.executable}\n{model.compiled}\n{text}".encode()).hexdigest()
    if key in _VENVS:
        return _VENVS[key]
    home = Path(tempfile.mkdtemp(prefix="pgstack-image-venv-"))
    home.chmod(0o755)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    venv = home / "venv"
    problem = _install_venv(venv, requirements) if requirements is not None else "no requirements file"
    if problem is None:
        if model.compiled:
            python = str(venv / "bin" / "python")
            subprocess.run(
                [python, "-m", "compileall", "-q", str(venv / "lib")], capture_output=True, check=False
            )
        made = (venv, f"its own venv from {model.requirements}")
    else:
        shutil.rmtree(venv, ignore_errors=True)
        _shim_venv(venv)
        made = (venv, f"this venv's packages, a superset ({problem})")
    _VENVS[key] = made
    return made


def _install_venv(venv: Path, requirements: Path) -> str | None:
    """A fresh venv at `venv` with exactly `requirements` (hashes required, as the Dockerfile's pip
    does); None when done, else why not."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        return "uv is not installed beside this Python"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    base_python = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [str(uv), "venv", "--no-config", "--no-project", "-q", "--python", base_python, str(venv)],
        [str(uv), "pip", "install", "--no-config", "-q", "--python", str(venv / "bin" / "python"),
         "--require-hashes", "--no-deps", "-r", str(requirements)],
    ]  # fmt: skip
    for argv in steps:
        try:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return f"`uv {argv[1]}` took over 300 s"
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return f"`uv {argv[1]}` failed: {last}"
    return None


def _shim_venv(venv: Path) -> None:
    bindir = venv / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    paths = sysconfig.get_paths()
    site = ":".join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    ours = Path(sys.executable).parent
    scripts: dict[str, str | None] = {"python": None, "python3": None}
    for script in ours.iterdir():
        if script.name not in scripts and script.is_file() and _is_python_script(script):
            scripts[script.name] = str(script)
    for name, target in scripts.items():
        shim = bindir / name
        shim.write_text(_shim(sys.executable, site, target))
        shim.chmod(0o755)


def _is_python_script(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first
