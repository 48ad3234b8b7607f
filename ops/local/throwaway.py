"""Throwaway local environments on free ports in private temp dirs, for tests and benchmarks."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ops.local.native import LocalEnv
from ops.local.processes import free_port
from stacks.config import LocalConfig, load_local_config, local_stack_values


def make_state_root(prefix: str, parent: Path | None = None) -> Path:
    """A temp dir the postgres service user can reach (mkdtemp makes it private to us), in `parent`
    (default: the system's temp dir)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    root.chmod(0o755)
    return root


def throwaway_config(**overrides: object) -> LocalConfig:
    """The shipped local config on two distinct free ports, with any field replaced."""
    base = load_local_config()
    postgres_port = free_port()
    pgbouncer_port = free_port()
    while pgbouncer_port == postgres_port:
        pgbouncer_port = free_port()
    fields = {"postgres_port": postgres_port, "pgbouncer_port": pgbouncer_port, **overrides}
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def write_stack_file(path: Path, config: LocalConfig) -> Path:
    """A Pulumi.local.yaml for `config`, so subprocesses (`invoke ...`) use the same environment."""
    lines = ["config:"] + [f"  pgstack:{key}: {value}" for key, value in local_stack_values(config).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def throwaway_env(
    prefix: str,
    config: LocalConfig | None = None,
    pristine: Path | None = None,
    durable: bool = True,
    parent: Path | None = None,
) -> Iterator[LocalEnv]:
    """A started environment in a temp dir of its own, stopped at once and deleted afterwards
    whatever happens (LocalEnv.discard: no shutdown checkpoint for files about to go).

    `pristine`: a cache of pristine clusters (ops/local/pristine.py, made with `make_state_root`)
    whose copy replaces initdb, ~0.6 s of CPU less per environment after the first; `durable=False`:
    `up` does not wait for the new cluster's files to reach the disk (seconds on a busy disk);
    `parent`: where its temp dir goes (`make_state_root`).
    """
    root = make_state_root(prefix, parent)
    env = LocalEnv(config or throwaway_config(), root / "state", pristine, durable)
    try:
        env.up()  # inside the try: an up that fails half-way may have started Postgres
        yield env
    finally:
        env.discard()
        shutil.rmtree(root, ignore_errors=True)
