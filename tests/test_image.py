"""The image ships what it runs (issue 9): the Dockerfile's own file set, with only the image's packages.

No Docker here: the test reads the Dockerfile's COPY lines, lays out exactly those files as the build
stage would, takes a venv holding requirements/image.txt only (uv, hashes required, compiled as the
build compiles it), and runs the image's two commands there: the migration job (`python -m
ops.migrate`) and the service (uvicorn on the app factory). An import of anything the image does
not ship fails here as it would on Cloud Run.

Cost: the tests marked `image` use the rehearsal's venv, kept in .local/cache/image-venv (its first
build takes seconds, mostly compiling; uv downloads what its cache lacks), and start the app once;
`-m "not image"` leaves them out.
"""

from __future__ import annotations

import ast
import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from ops.local.processes import free_port
from ops.rehearse.imagevenv import CACHE_DIR, OWN_VENV, image_venv
from ops.smoke.appserver import http_get
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase

# What the image is made of: the migrator's wing (and the `ops` package around it), the app, the
# migrations, and the lock's export of the image's packages. Nothing else of the repository.
SHIPPED = {
    "requirements/image.txt",
    "app/",
    "ops/__init__.py",
    "ops/errors.py",
    "ops/migrate/",
    "migrations/",
}
# Top-level names that are this repository's code, not installed packages.
REPO_PACKAGES = {p.name for p in REPO_ROOT.iterdir() if (p / "__init__.py").exists()} | {"tasks"}
image = pytest.mark.image


@dataclass(frozen=True)
class Copy:
    """One `COPY src... dest` from the build context, its destination resolved against WORKDIR."""

    sources: tuple[str, ...]
    dest: PurePosixPath
    into_directory: bool  # dest ends in `/` or several sources: each source lands inside it


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pairs = []
    for line in joined:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def build_copies(dockerfile: str) -> list[Copy]:
    """The COPY instructions that take files from the build context (not `--from` another stage)."""
    copies = []
    workdir = PurePosixPath("/")
    for instruction, args in _instructions(dockerfile):
        if instruction == "FROM":
            workdir = PurePosixPath("/")
        elif instruction == "WORKDIR":
            workdir = workdir / args.strip()
        elif instruction in {"COPY", "ADD"}:
            words = json.loads(args) if args.lstrip().startswith("[") else shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            if any(f.startswith("--from") for f in flags):
                continue
            *sources, dest = [w for w in words if not w.startswith("--")]
            assert instruction == "COPY", f"ADD {args}: use COPY (ADD fetches URLs and unpacks archives)"
            assert not any(set(s) & set("*?[") for s in sources), f"COPY {args}: no wildcards, list files"
            copies.append(Copy(tuple(sources), workdir / dest, dest.endswith("/") or len(sources) > 1))
    return copies


def lay_out(copies: list[Copy], root: Path) -> None:
    """Copy the files as the build stage would, under `root` standing for the image's `/`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")  # as .dockerignore
    for copy in copies:
        dest = root / copy.dest.relative_to("/")
        for source in copy.sources:
            path = REPO_ROOT / source
            if path.is_dir():
                shutil.copytree(path, dest, ignore=ignore, dirs_exist_ok=True)
            else:
                target = dest / path.name if copy.into_directory else dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def _is_module(module: str, root: Path) -> bool:
    """Whether `module` (dotted) is a module or a regular package under `root`."""
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def missing_imports(srv: Path) -> list[str]:
    """`file: module` for each import of this repository's code that /srv does not hold."""
    missing = []
    for source in sorted(srv.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from ops.migrate import history`: the package, and each name that is a submodule
                # in the repository (a name defined in the package itself is not a file to ship).
                names = [node.module]
                names += [
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if _is_module(f"{node.module}.{alias.name}", REPO_ROOT)
                ]
            missing += [
                f"{source.relative_to(srv)}: {name}"
                for name in names
                if name.split(".")[0] in REPO_PACKAGES and not _is_module(name, srv)
            ]
    return missing


@pytest.fixture(name="image_root", scope="module")
def _image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's files, laid out from the Dockerfile's own COPY lines."""
    root = tmp_path_factory.mktemp("image")
    lay_out(build_copies((REPO_ROOT / "Dockerfile").read_text()), root)
    return root


@pytest.fixture(name="image_python", scope="module")
def _image_python(image_root: Path) -> Path:
    """The venv of requirements/image.txt only, installed as the Dockerfile does (the rehearsal's
    venv, kept between runs: ops/rehearse/imagevenv.py), and the code under /srv compiled to
    bytecode as its build compiles both."""
    requirements = image_root / "tmp" / "requirements.txt"  # where the Dockerfile copies the export
    venv, made = image_venv(requirements, "requirements/image.txt", True, REPO_ROOT / CACHE_DIR)
    # Shims over this venv's packages would be a superset: the test needs the image's packages only.
    assert made.startswith(OWN_VENV), f"the image's packages cannot be installed here: {made}"
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "compileall", "-q", str(image_root / "srv")], check=True)
    return python


def _image_env(image_root: Path, python: Path, **extra: str) -> dict[str, str]:
    """The image's environment: its venv first on PATH, /srv on PYTHONPATH, nothing of ours."""
    return {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "PYTHONPATH": str(image_root / "srv"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(image_root),
        **extra,
    }


def _run(python: Path, image_root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args],
        cwd=image_root / "srv",
        env=_image_env(image_root, python, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_dockerfile_copies_the_migrator_wing_app_and_migrations_only() -> None:
    """The build context's COPY lines name exactly the shipped file set (a new wing must not sneak in)."""
    copies = build_copies((REPO_ROOT / "Dockerfile").read_text())
    assert SHIPPED == {source for copy in copies for source in copy.sources}


def test_the_docker_context_holds_the_same_files() -> None:
    """.dockerignore lets through exactly what the Dockerfile copies, so nothing else is sent."""
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert SHIPPED == {line[1:] for line in lines if line.startswith("!")}


def test_what_the_image_ships_imports_only_what_it_ships(image_root: Path) -> None:
    """No module in /srv imports repository code that /srv lacks (e.g. the migrator reaching ops.local)."""
    assert [] == missing_imports(image_root / "srv")


def test_the_import_check_sees_an_import_the_image_lacks(tmp_path: Path) -> None:
    """The check above can fail: a migrator module importing another wing is reported."""
    srv = tmp_path / "srv"
    (srv / "ops" / "migrate").mkdir(parents=True)
    (srv / "ops" / "__init__.py").write_text("")
    (srv / "ops" / "migrate" / "__init__.py").write_text("")
    (srv / "ops" / "migrate" / "leak.py").write_text(
        "from ops.migrate import leak\nfrom ops.local.native import NativeRuntime\nimport pgbouncer\n"
    )
    assert ["ops/migrate/leak.py: ops.local.native", "ops/migrate/leak.py: pgbouncer"] == missing_imports(srv)


@image
def test_the_migration_job_command_runs_in_the_image(image_root: Path, image_python: Path) -> None:
    """`python -m ops.migrate --help` works with the image's files and packages alone."""
    ran = _run(image_python, image_root, "-m", "ops.migrate", "--help")
    assert 0 == ran.returncode, ran.stderr
    assert ran.stdout.startswith("usage: python -m ops.migrate")


def _imported(stderr: str) -> tuple[set[str], str]:
    """What `python -X importtime` says it imported (every module, by its dotted name), and the
    rest of its stderr."""
    modules, rest = set(), []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            rest.append(line)
        elif "self [us]" not in line:  # not the header
            modules.add(line.rpartition("|")[2].strip())
    return modules, "\n".join(rest)


# The libraries a database action needs (~0.6 s of CPU to import): an argument the job refuses,
# or --help, must not pay for them on Cloud Run.
DATABASE_LIBRARIES = {"sqlalchemy", "alembic", "psycopg", "pydantic", "pydantic_settings"}


@image
def test_the_jobs_arguments_are_parsed_before_any_database_library_loads(
    image_root: Path, image_python: Path
) -> None:
    """`python -m ops.migrate` refuses an unknown action from its parse alone: none of SQLAlchemy,
    Alembic, psycopg or pydantic is imported (each action imports what it runs, once parsed)."""
    ran = _run(image_python, image_root, "-X", "importtime", "-m", "ops.migrate", "verify")
    imported, stderr = _imported(ran.stderr)
    assert 2 == ran.returncode, stderr
    assert "invalid choice: 'verify'" in stderr
    assert {"ops.migrate.jobresult", "argparse"} <= imported  # the run was seen
    assert set() == {name.split(".")[0] for name in imported} & DATABASE_LIBRARIES


@image
def test_the_app_imports_in_the_image(image_root: Path, image_python: Path) -> None:
    """The service's module imports with the image's files and packages alone, and nothing of the repo."""
    loaded = "sorted({m.split('.')[0] for m in sys.modules} & {'ops', 'stacks', 'cli', 'pgbouncer'})"
    ran = _run(image_python, image_root, "-c", f"import sys, app.main; print({loaded})")
    assert 0 == ran.returncode, ran.stderr
    assert "[]" == ran.stdout.strip()


@pytest.fixture(name="image_app")
def _image_app(image_root: Path, image_python: Path, database: TestDatabase) -> Iterator[str]:
    """The image's service command (uvicorn on the app factory) against `database`, on a free port."""
    port = free_port()
    log = image_root / f"app-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(image_python), "-m", "uvicorn", "--factory", "app.main:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log"],
            cwd=image_root / "srv",
            env=_image_env(image_root, image_python, **database.environ()),
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # A bound on a failure, not a wait: on a loaded machine the image's interpreter takes many
        # seconds to import the app, and the tests start only once it answers.
        deadline = time.monotonic() + 90
        healthy = False
        while not healthy and time.monotonic() < deadline and process.poll() is None:
            try:
                healthy = http_get(f"{url}/healthz", timeout_s=1).status == 200
            except OSError:
                time.sleep(0.1)
        assert process.poll() is None, f"the app exited: {log.read_text(errors='replace')}"
        assert healthy, f"the app did not answer /healthz in 90 s: {log.read_text(errors='replace')}"
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@image
def test_the_image_migrates_a_database_and_serves_it(
    image_root: Path, image_python: Path, database: TestDatabase, image_app: str
) -> None:
    """The migration job brings a real database to head from the image, without loading the ORM
    models; the image's app is then ready."""
    assert 503 == http_get(f"{image_app}/readyz", timeout_s=5).status  # not migrated yet
    argv = ["-X", "importtime", "-m", "ops.migrate", "--env", "image-test"]
    ran = _run(image_python, image_root, *argv, **database.environ())
    imported, stderr = _imported(ran.stderr)
    assert 0 == ran.returncode, stderr
    assert "upgrade 0001_baseline" in ran.stdout  # every revision applied, through Alembic
    # Applying revisions compares no models: the ORM is left to what does (migrations/env.py).
    assert "sqlalchemy.orm" not in imported and "app.models" not in imported
    ready = http_get(f"{image_app}/readyz", timeout_s=5)
    assert 200 == ready.status, ready.body
