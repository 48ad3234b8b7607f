"""`invoke db.lint` on 50 generated revisions against what it replaces by hand: `alembic upgrade
--sql` over the same revisions, then squawk on that SQL, in one run (interleaved, medians).

Run: .venv/bin/python bench/lint.py [--revisions 50] [--runs 5]
Target: ratio <= 1.2. db.lint renders each revision on its own (so one that cannot be rendered does
not hide the others, and each finding names its revision), yet runs squawk once over all of them.
No database is needed by either side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.lint.squawk import find_squawk
from ops.migrate.revisions import EXTRA_VERSIONS_VARIABLE, MIGRATIONS_DIR, head_revision
from stacks.stackfile import REPO_ROOT

BIN = Path(sys.executable).parent

# A realistic mix: a new table, columns, an index built concurrently, one built the blocking way
# (a finding on purpose, so both sides report something), a NOT VALID foreign key then validated.
BODY = """
    op.create_table(
        "bench_{n}",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.add_column("users", sa.Column("bench_{n}", sa.Text(), nullable=True))
    op.create_foreign_key("bench_{n}_user_id_fkey", "bench_{n}", "users", ["user_id"], ["id"],
                          postgresql_not_valid=True)
    op.execute("ALTER TABLE bench_{n} VALIDATE CONSTRAINT bench_{n}_user_id_fkey")
    op.create_index("ix_events_bench_{n}", "events", ["title"])
    with op.get_context().autocommit_block():
        op.create_index("ix_users_bench_{n}", "users", ["bench_{n}"], postgresql_concurrently=True,
                        if_not_exists=True)
"""


def _generate(versions: Path, count: int) -> None:
    # The revision skeleton lives with the tests' helpers, beside this checkout's packages.
    sys.path.insert(0, str(REPO_ROOT))
    from tests.support.revisions import write_revision

    down = head_revision()
    for n in range(1, count + 1):
        rev = f"{9000 + n:04d}_bench_{n}"
        doc = f"Generated revision {n} for bench/lint.py."
        write_revision(versions, rev, down, BODY.format(n=n), doc=doc)
        down = rev


def _timed(argv: list[str], env: dict[str, str], out: Path | None = None) -> float:
    started = time.perf_counter()
    with out.open("w") if out else open(os.devnull, "w") as sink:  # noqa: PTH123 - devnull
        done = subprocess.run(argv, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: findings, expected on purpose
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode().strip()}")
    return elapsed


def main() -> None:
    """Generate the revisions, then time both ways, interleaved."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    squawk = find_squawk(BIN, os.environ.get("PATH"))
    scratch = Path(tempfile.mkdtemp(prefix="pgstack-bench-lint-"))
    try:
        versions = scratch / "versions"
        versions.mkdir()
        _generate(versions, args.revisions)
        # The plain way: Alembic's CLI on the same script directory plus the generated revisions
        # (its offline mode wants a URL for the dialect; nothing connects to it).
        ini = scratch / "alembic.ini"
        ini.write_text(
            "[alembic]\n"
            f"script_location = {MIGRATIONS_DIR}\n"
            f"version_locations = {MIGRATIONS_DIR / 'versions'} {versions}\n"
            "path_separator = space\n"
            f"prepend_sys_path = {REPO_ROOT}\n"
        )
        env = {
            **os.environ,
            EXTRA_VERSIONS_VARIABLE: str(versions),
            "DATABASE_URL": "postgresql://bench:bench@127.0.0.1:9/bench",
            "DIRECT_DATABASE_URL": "postgresql://bench:bench@127.0.0.1:9/bench",
        }
        sql = scratch / "upgrade.sql"
        ours, plain, render, check = [], [], [], []
        for _ in range(args.runs):
            ours.append(_timed([str(BIN / "invoke"), "db.lint", "--json"], env))
            sql_s = _timed([str(BIN / "alembic"), "-c", str(ini), "upgrade", "head", "--sql"], env, out=sql)
            squawk_s = _timed([str(squawk), "--pg-version", "15", "--reporter", "json", str(sql)], env)
            render.append(sql_s)
            check.append(squawk_s)
            plain.append(sql_s + squawk_s)
        total = args.revisions + len(list((MIGRATIONS_DIR / "versions").glob("*.py")))
        ours_m, plain_m = statistics.median(ours), statistics.median(plain)
        runs = f"median of {args.runs} interleaved runs"
        print(f"bench/lint.py ({total} revisions, {args.revisions} generated; {runs})")
        print(f"  invoke db.lint                      : {ours_m:6.2f} s")
        print(
            f"  alembic upgrade --sql + squawk      : {plain_m:6.2f} s"
            f"   (alembic {statistics.median(render):.2f} s, squawk {statistics.median(check):.2f} s)"
        )
        print(f"  ratio                               : {ours_m / plain_m:6.2f}   (target <= 1.2)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
