"""db.compat's bad input (an unknown ref, a ref with no migrations, a lock that cannot install, a
worktree left by an interrupted run): a UserError that exits 2, since 1 means "breaking"."""

from __future__ import annotations

from ops.errors import UserError


class CompatInputError(UserError):
    """The check could not be run as asked; the message says what to do. Exit code 2."""

    exit_code = 2
