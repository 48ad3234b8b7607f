"""The one error type a user can cause: tasks print its message on one line and exit non-zero."""


class UserError(Exception):
    """Bad input or a bad state the user can fix; the message says what is wrong and what to do.
    `exit_code` is what a task exits with (a kind of error may need its own, e.g. db.compat's 2)."""

    exit_code = 1


class UnknownName(UserError):
    """A name on the command line that the project does not have (an --env that is neither `local`
    nor a stack): a usage error, so exit 2, as argparse and invoke exit for theirs."""

    exit_code = 2
