"""What a Postgres data directory proves about itself: whether it holds anything beyond what initdb
writes. The marker in the state directory says how far pgstack got; only this says whether deleting
the directory could lose data, so an interrupted initialisation is removed on its evidence alone.
"""

from __future__ import annotations

from pathlib import Path

from ops.local.processes import pid_alive, read_pid

# Postgres hands out OIDs from here once a server runs; initdb (bootstrap and single-user mode)
# stays below it, so a database directory or relation file numbered this high was made by a server.
FIRST_NORMAL_OID = 16384


def _numbered(directory: Path) -> list[int]:
    """The OIDs among `directory`'s entries (`16390`, `16390_fsm`, `16390.1` all count as 16390)."""
    try:
        names = [entry.name for entry in directory.iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        head = name.split("_", 1)[0].split(".", 1)[0]
        if head.isdigit():
            found.append(int(head))
    return found


def beyond_initdb(pgdata: Path) -> list[str]:
    """What in `pgdata` initdb alone cannot have written (empty: deleting it loses nothing).

    Each item names its evidence, for the one-line refusal: a server running on it, a server having
    run on it (postmaster.opts, written at every start), databases or relations a server created,
    tablespaces.
    """
    evidence = []
    pid = read_pid(pgdata / "postmaster.pid")
    if pid is not None and pid_alive(pid, "postgres"):
        evidence.append(f"a server runs on it (pid {pid})")
    if (pgdata / "postmaster.opts").exists():
        evidence.append("a server has run on it (postmaster.opts)")
    base = pgdata / "base"
    databases = sorted(oid for oid in _numbered(base) if oid >= FIRST_NORMAL_OID)
    if databases:
        shown = ", ".join(str(oid) for oid in databases[:3]) + (", ..." if len(databases) > 3 else "")
        evidence.append(f"{len(databases)} database(s) initdb does not make (base/{shown})")
    made_by_server = [
        directory.name
        for directory in sorted(base.iterdir() if base.is_dir() else [])
        if directory.is_dir() and any(oid >= FIRST_NORMAL_OID for oid in _numbered(directory))
    ]
    made_by_server = [name for name in made_by_server if not name.isdigit() or int(name) < FIRST_NORMAL_OID]
    if made_by_server:
        evidence.append(f"tables a server created (in base/{', base/'.join(made_by_server)})")
    if _numbered(pgdata / "pg_tblspc"):
        evidence.append("tablespaces (pg_tblspc)")
    return evidence
