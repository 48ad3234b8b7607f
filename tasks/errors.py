"""Turn the errors a user can cause into one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.exceptions import Exit

from ops.errors import UserError
from stacks.config import ConfigError
from stacks.stackfile import StackFileError

USER_ERRORS = (UserError, ConfigError, StackFileError)


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body; a user error becomes `error: <message>` and exit code 1."""
    try:
        yield
    except USER_ERRORS as exc:
        raise Exit(f"error: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
