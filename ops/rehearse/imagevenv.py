"""The image's virtualenv, here: a venv holding exactly the packages the Dockerfile installs (its
requirements file, with uv, hashes required), compiled to bytecode when the image's build compiles
it. It is built once per requirements file, interpreter and compile flag, and kept under
`.local/cache/image-venv/<key>/` (a few seconds of CPU, most of it compiling): every rehearsal and
every test process of the checkout shares it, one builds it while the others wait on its lock.

When the packages cannot be installed here (no uv, no network and a cold cache) the venv is shims
that run this checkout's Python without `site` over this venv's packages (a superset), made per
process and never kept: a failure to install is not remembered.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from ops.local.filelock import forget_stale, held, lock_of

# Under the checkout's root, beside the built schemas' cache.
CACHE_DIR = Path(".local") / "cache" / "image-venv"
# Written last: a venv without it was cut short (a killed build) and is built anew.
COMPLETE = ".pgstack-complete"
# Bumped when what a kept venv holds changes.
FORMAT = 1
# A kept venv nobody used for this long is deleted when another one is built.
STALE_S = 7 * 24 * 3600
OWN_VENV = "its own venv from"  # how a real venv is described (the shims say "a superset")


def venv_key(requirements_text: str, compiled: bool) -> str:
    """What a venv is built from: the requirements, this interpreter, and whether it is compiled."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    recipe = f"{FORMAT}\n{sys.executable}\n{base_python}\n{compiled}\n{requirements_text}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:24]


def image_venv(requirements: Path | None, shown: str, compiled: bool, cache: Path) -> tuple[Path, str]:
    """The image's venv (built on first use, kept under `cache`) and how it was made.

    `shown` is how the requirements file is named in that description; `compiled`: compile the
    packages to bytecode, as the image's build does.
    """
    text = requirements.read_text() if requirements is not None and requirements.is_file() else None
    if requirements is None or text is None:
        return _shim_venv("no requirements file")
    venv = cache / venv_key(text, compiled)
    with held(lock_of(venv)):
        if not (venv / COMPLETE).is_file():
            shutil.rmtree(venv, ignore_errors=True)
            problem = _install_venv(venv, requirements)
            if problem is not None:
                shutil.rmtree(venv, ignore_errors=True)
                return _shim_venv(problem)
            if compiled:
                python = str(venv / "bin" / "python")
                subprocess.run(
                    [python, "-m", "compileall", "-q", str(venv / "lib")], capture_output=True, check=False
                )
            (venv / COMPLETE).write_text(f"{shown}\n")
            forget_stale(cache, COMPLETE, STALE_S)  # this one was just completed: not stale
        os.utime(venv / COMPLETE)  # used now: not stale
    return venv, f"{OWN_VENV} {shown}"


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


def _shim_venv(problem: str) -> tuple[Path, str]:
    """Shims standing in for the venv, and why."""
    return _shims(), f"this venv's packages, a superset ({problem})"


@functools.cache
def _shims() -> Path:
    """The shims' venv directory: made once per process, deleted when it ends."""
    home = Path(tempfile.mkdtemp(prefix="pgstack-image-venv-"))
    home.chmod(0o755)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    bindir = home / "venv" / "bin"
    bindir.mkdir(parents=True)
    paths = sysconfig.get_paths()
    site = ":".join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    scripts: dict[str, str | None] = {"python": None, "python3": None}
    for script in Path(sys.executable).parent.iterdir():
        if script.name not in scripts and script.is_file() and _is_python_script(script):
            scripts[script.name] = str(script)
    for name, target in scripts.items():
        shim = bindir / name
        shim.write_text(_shim(sys.executable, site, target))
        shim.chmod(0o755)
    return home / "venv"


def _shim(python: str, site: str, target: str | None) -> str:
    run = f'exec "{python}" -S "{target}" "$@"' if target else f'exec "{python}" -S "$@"'
    return (
        "#!/bin/sh\n"
        "# The image's interpreter, standing in: no site (so no editable install of the checkout),\n"
        "# the packages from the venv, the code from the image's PYTHONPATH only.\n"
        f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}" {run}\n'
    )


def _is_python_script(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first
