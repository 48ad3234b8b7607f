"""A no-op `invoke db.migrate` (already at head) against a plain `alembic upgrade head` on the same
database, in one run; and the same two in-process, without interpreter start-up.

Run: .venv/bin/python bench/migrate_noop.py [--runs N]
Runs are interleaved so the machine's noise hits both alike; the figures are medians.
Target: ratio <= 1.2 (the migrator's lock, state detection and checks cost next to nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.settings import get_settings
from ops.local.native import LocalEnv
from ops.local.throwaway import make_state_root, throwaway_config, write_stack_file
from ops.migrate.migrator import migrate
from ops.migrate.target import DatabaseTarget
from stacks.stackfile import REPO_ROOT

BIN = Path(sys.executable).parent


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _quiet(_: str) -> None:
    """Progress sink: the bench prints only its figures."""


def _report(label: str, ours: list[float], alembic: list[float], unit: float, suffix: str) -> None:
    ours_m, alembic_m = statistics.median(ours), statistics.median(alembic)
    print(f"{label} (median of {len(ours)} interleaved runs):")
    print(f"  pgstack  : {ours_m * unit:8.1f} {suffix}")
    print(f"  alembic  : {alembic_m * unit:8.1f} {suffix}")
    print(f"  ratio    : {ours_m / alembic_m:8.2f}   (target <= 1.2)")


def main() -> None:
    """Start a throwaway environment, migrate it to head, then time the no-ops."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    root = make_state_root("pgstack-bench-migrate-")
    config = throwaway_config()
    stack_file = write_stack_file(root / "Pulumi.local.yaml", config)
    env = LocalEnv(config, root / "state")
    try:
        env.up(_quiet)
        target = DatabaseTarget.from_urls("local", env.direct_url(), env.pooled_url(), config.schema)
        environ = {
            **os.environ,
            **target.environ(),
            "PGSTACK_STACK_FILE": str(stack_file),
            "PGSTACK_STATE_DIR": str(env.state_dir),
        }
        os.environ.update(environ)
        get_settings.cache_clear()
        migrate(target, progress=_quiet)

        def cli(argv: list[str]) -> None:
            subprocess.run(argv, cwd=REPO_ROOT, env=environ, check=True, capture_output=True)

        alembic_config = Config(toml_file=str(REPO_ROOT / "pyproject.toml"))
        cli_ours, cli_alembic, lib_ours, lib_alembic = [], [], [], []
        for _ in range(args.runs):
            cli_ours.append(_timed(lambda: cli([str(BIN / "invoke"), "db.migrate"])))
            cli_alembic.append(_timed(lambda: cli([str(BIN / "alembic"), "upgrade", "head"])))
        for _ in range(args.runs * 3):
            lib_ours.append(_timed(lambda: migrate(target, progress=_quiet)))
            lib_alembic.append(_timed(lambda: command.upgrade(alembic_config, "head")))
    finally:
        env.down()
        shutil.rmtree(root, ignore_errors=True)
    _report(
        "no-op migrate, command line (`invoke db.migrate` vs `alembic upgrade head`)",
        cli_ours,
        cli_alembic,
        1,
        "s",
    )
    _report(
        "no-op migrate, in-process (ops.migrate.migrate vs alembic.command.upgrade)",
        lib_ours,
        lib_alembic,
        1000,
        "ms",
    )


if __name__ == "__main__":
    main()
