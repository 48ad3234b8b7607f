"""The migrator: bring a database's schema to a revision whatever state it is in, safely.

Target (which database), state (empty / unversioned / versioned), lock (the session advisory lock,
timeouts), history (what ran, by whom, with checksums), revisions (the Alembic script directory),
fingerprint (what a schema holds), check (`db.check`), and the migrator itself. `python -m
ops.migrate` is the Cloud Run migration job's command.

The only wing the image ships: it imports `app` and `ops.errors`, nothing else of the repository.
"""
