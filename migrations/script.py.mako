<%!
    from ops.migrate.revisions import docstring_text
%>\
"""${docstring_text(message)}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Runs with search_path set to DB_SCHEMA on a direct connection: use unqualified names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# The code already serving keeps running on this schema until the rollout ends (and forever after a
# rollback): the deploy's migration job applies "expand" revisions before the new code starts, and
# "contract" ones only once the rollout is verified (`db.migrate --phase contract`). Change a schema
# the serving code uses in steps, one deploy each:
#   1. expand: add the new column nullable (or with a constant server default), or the new table;
#   2. ship code that writes both the old and the new, and backfill in batches;
#   3. ship code that reads the new only (`invoke db.compat --base <serving commit>` shows whether
#      the serving code still works on this tree's schema);
#   4. contract: drop the old column or table, SET NOT NULL, narrow a type, remove an enum label.
# `invoke db.lint` flags an expand revision that breaks the serving code.
phase = "expand"

# Safe on a live table (`invoke db.lint` flags the unsafe forms); delete these notes once written.
# - An index on an existing table: concurrently, in an autocommit block (the migrator keeps its lock
#   and gives the block MIGRATE_CONCURRENT_STATEMENT_TIMEOUT). A failed build leaves an INVALID
#   index: dropping it first makes the rerun recover.
#       with op.get_context().autocommit_block():
#           op.drop_index("ix_t_c", table_name="t", postgresql_concurrently=True, if_exists=True)
#           op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True, if_not_exists=True)
# - NOT NULL in steps: add the column nullable (expand) and backfill in batches; once every serving
#   release writes it, a contract revision adds a NOT VALID check (instant, no scan: it checks new
#   writes only), and a later contract revision validates it (writes go on) and sets NOT NULL (no scan).
#       op.create_check_constraint(op.f("t_c_not_null"), "t", "c IS NOT NULL", postgresql_not_valid=True)
#       op.execute("ALTER TABLE t VALIDATE CONSTRAINT t_c_not_null")
#       op.alter_column("t", "c", nullable=False)
# - A foreign key (or check) over existing rows: NOT VALID first, VALIDATE CONSTRAINT in a later revision
#   (in the same transaction the validation would still block reads).
#       op.create_foreign_key(op.f("t_u_id_fkey"), "t", "u", ["u_id"], ["id"], postgresql_not_valid=True)
#       op.execute("ALTER TABLE t VALIDATE CONSTRAINT t_u_id_fkey")
# - A new column on a big table: no volatile default (now(), random(), gen_random_uuid()), which
#   rewrites the table under an exclusive lock; add it bare, backfill, then set the default.


def upgrade() -> None:
    ${upgrades if upgrades and "op." in upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades and "op." in downgrades else "pass"}
