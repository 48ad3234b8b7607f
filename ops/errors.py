"""The one error type a user can cause: tasks print its message on one line and exit non-zero."""


class UserError(Exception):
    """Bad input or a bad state the user can fix; the message says what is wrong and what to do.
    `exit_code` is what a task exits with (a kind of error may need its own, e.g. db.compat's 2)."""

    exit_code = 1
