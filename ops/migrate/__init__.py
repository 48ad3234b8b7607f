"""The migrator: bring a database's schema to a revision whatever state it is in, safely.

Target (which database), state (empty / unversioned / versioned), lock (the session advisory lock,
timeouts), connect (the first connection, retried on a cold network), history (what ran, by whom,
with checksums), revisions (the Alembic script directory), concurrent (autocommit blocks for
CREATE INDEX CONCURRENTLY), fingerprint (what a schema holds), compare (how two fingerprints
differ), diff (`db.diff`), check (`db.check`), status (`db.status`), repair (`db.repair`), and the
migrator itself. `python -m ops.migrate` is the Cloud Run migration job's command.

The only wing the image ships: it imports `app` and `ops.errors`, nothing else of the repository
and none of the ops extra (contracts `ops-wings` and `image`).
"""
