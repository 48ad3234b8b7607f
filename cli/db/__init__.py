"""db: migrations and the database's version - migrate, stamp, current, history, check, diff, lint,
revision, downgrade, shell, reset, seed, compat (the serving code on this tree's schema) - and the
local database's snapshots (snapshot, restore, snapshots).
`--env local` (the default), or a cloud env: on its database when DIRECT_DATABASE_URL is exported,
else (migrate, check, current, status) as its Cloud Run migration job, through gcloud.

One namespace assembled from a module per concern, as pyinvoke's invocations builds its packaging
collection: a new concern is a new module here, added to the list below.
"""

from cli import edge
from cli.db import compat, data, migrations, schema, snapshots

ns = edge.namespace("db", migrations, schema, data, snapshots, compat)
