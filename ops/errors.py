"""The one error type a user can cause: tasks print its message on one line and exit non-zero."""


class UserError(Exception):
    """Bad input or a bad state the user can fix; the message says what is wrong and what to do."""
