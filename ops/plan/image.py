"""What the app image is, read from its Dockerfile: the final stage's ENV, WORKDIR, ENTRYPOINT, CMD
and USER, its virtualenv, and which files of the build context end up in it (and where).

Enough of the Dockerfile language for this project's multi-stage file: FROM ... AS, WORKDIR, ENV,
ARG, COPY (from the context, or `--from=<stage>` a whole directory), RUN (only `python -m venv`
is read from it), CMD, ENTRYPOINT, USER, EXPOSE. Anything else is refused by name, so a change the
model does not understand is said, not silently mis-rehearsed.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ops.errors import UserError

_IGNORED = {"ARG", "EXPOSE", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "SHELL"}
_VENV = re.compile(r"python3?\s+-m\s+venv\s+(\S+)")
# `pip install ... -r <file>` (the venv's packages), with or without --require-hashes and friends.
_COMPILEALL = re.compile(r"-m\s+compileall\b")
_REQUIREMENTS = re.compile(r"pip\s+install\b[^&|;]*?\s(?:-r|--requirement)[\s=](\S+)")


@dataclass
class _Stage:
    name: str
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    # (source in the context, destination in the stage) for context copies; ("stage:<name>", path)
    # for a directory copied from another stage.
    copies: list[tuple[str, str]] = field(default_factory=list)
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    user: str | None = None
    venv: str | None = None
    requirements: str | None = None  # the file (in the stage) its venv is installed from
    compiles: bool = False  # runs `python -m compileall` (bytecode built at build time)


@dataclass(frozen=True)
class ImageModel:
    """The final image as a container runtime sees it."""

    dockerfile: str
    workdir: str
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    user: str | None
    venv: str | None  # where its virtualenv lives (the interpreter `python` on its PATH)
    files: list[tuple[str, str]]  # (path in the build context, path in the image)
    requirements: str | None = None  # the context file the venv's packages are installed from
    compiled: bool = False  # its code and packages compiled to bytecode at build time


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    found: list[tuple[int, str, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append((start, keyword.upper(), rest.strip()))
    return found


def _exec_form(rest: str) -> list[str]:
    if rest.startswith("["):
        value = json.loads(rest)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _env_pairs(rest: str) -> dict[str, str]:
    parts = shlex.split(rest)
    if parts and "=" not in parts[0]:  # the legacy `ENV KEY value` form
        return {parts[0]: " ".join(parts[1:])}
    return dict(part.split("=", 1) for part in parts)


def _expand(value: str, env: dict[str, str]) -> str:
    """$VAR and ${VAR} from the stage's earlier ENV; others (such as the base image's PATH) stay."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, value)


def _in_stage(path: str, workdir: str) -> str:
    return str(PurePosixPath(workdir) / path)


def _copy(stage: _Stage, rest: str, line: int, source: str) -> None:
    parts = shlex.split(rest)
    from_stage = None
    while parts and parts[0].startswith("--"):
        flag = parts.pop(0)
        if flag.startswith("--from="):
            from_stage = flag.removeprefix("--from=")
        elif not flag.startswith(("--chown=", "--chmod=", "--link")):
            raise UserError(f"{source}:{line}: COPY {flag} is beyond what the rehearsal models")
    if len(parts) < 2:
        raise UserError(f"{source}:{line}: COPY needs a source and a destination")
    *sources, destination = parts
    target = _in_stage(destination, stage.workdir)
    for src in sources:
        if from_stage is not None:
            stage.copies.append((f"stage:{from_stage}:{src}", target))
        elif destination.endswith("/") or len(sources) > 1:
            name = PurePosixPath(src.rstrip("/")).name
            stage.copies.append((src, target if src.endswith("/") else str(PurePosixPath(target) / name)))
        else:
            stage.copies.append((src, target))


def _workdir(stage: _Stage, rest: str, line: int, source: str) -> None:
    stage.workdir = _in_stage(_expand(rest, stage.env), stage.workdir)


def _env(stage: _Stage, rest: str, line: int, source: str) -> None:
    for key, value in _env_pairs(rest).items():
        stage.env[key] = _expand(value, stage.env)


def _run(stage: _Stage, rest: str, line: int, source: str) -> None:
    match = _VENV.search(rest)
    if match:
        stage.venv = match.group(1)
    stage.compiles = stage.compiles or _COMPILEALL.search(rest) is not None
    match = _REQUIREMENTS.search(rest)
    if match:
        stage.requirements = _in_stage(match.group(1), stage.workdir)


def _cmd(stage: _Stage, rest: str, line: int, source: str) -> None:
    stage.cmd = _exec_form(rest)


def _entrypoint(stage: _Stage, rest: str, line: int, source: str) -> None:
    stage.entrypoint = _exec_form(rest)


def _user(stage: _Stage, rest: str, line: int, source: str) -> None:
    stage.user = rest


_READERS = {
    "WORKDIR": _workdir,
    "ENV": _env,
    "COPY": _copy,
    "RUN": _run,
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "USER": _user,
}


def _stages(text: str, source: str) -> list[_Stage]:
    stages: list[_Stage] = []
    for line, keyword, rest in _instructions(text):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(_Stage(name))
        elif keyword in _IGNORED:
            continue
        elif not stages:
            raise UserError(f"{source}:{line}: {keyword} before any FROM")
        elif keyword in _READERS:
            _READERS[keyword](stages[-1], rest, line, source)
        else:
            raise UserError(f"{source}:{line}: {keyword} is beyond what the rehearsal models")
    if not stages:
        raise UserError(f"{source} has no FROM: not a Dockerfile")
    return stages


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _files(stage: _Stage, stages: dict[str, _Stage], source: str) -> tuple[list[tuple[str, str]], str | None]:
    """The context files a stage ends up with (following copies from other stages), and its venv."""
    files: list[tuple[str, str]] = []
    venv = stage.venv
    for src, destination in stage.copies:
        if not src.startswith("stage:"):
            files.append((src, destination))
            continue
        _, name, path = src.split(":", 2)
        if name not in stages:
            raise UserError(f"{source}: COPY --from={name}: no stage of that name")
        theirs, their_venv = _files(stages[name], stages, source)
        for context_path, their_destination in theirs:
            if _under(their_destination, path):
                files.append((context_path, destination + their_destination[len(path.rstrip("/")) :]))
        if their_venv is not None and _under(their_venv, path):
            venv = destination + their_venv[len(path.rstrip("/")) :]
    return files, venv


def read_image(dockerfile: Path, root: Path) -> ImageModel:
    """The final stage of `dockerfile` (whose build context is `root`)."""
    source = str(dockerfile.relative_to(root)) if dockerfile.is_relative_to(root) else dockerfile.name
    try:
        text = dockerfile.read_text()
    except OSError as exc:
        raise UserError(f"cannot read the image's Dockerfile {source} ({exc.strerror})") from None
    stages = _stages(text, source)
    final = stages[-1]
    files, venv = _files(final, {s.name: s for s in stages}, source)
    requirements = None
    for stage in stages:
        for context_path, destination in stage.copies:
            if stage.requirements is not None and destination == stage.requirements:
                requirements = context_path
    if final.cmd is None and final.entrypoint is None:
        raise UserError(f"{source}: the final stage has neither CMD nor ENTRYPOINT")
    return ImageModel(
        dockerfile=source,
        workdir=final.workdir,
        env=dict(final.env),
        entrypoint=final.entrypoint or [],
        cmd=final.cmd or [],
        user=final.user,
        venv=venv,
        files=files,
        requirements=requirements,
        compiled=any(stage.compiles for stage in stages),
    )
