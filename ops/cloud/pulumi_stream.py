"""`pulumi up` for the deploy: its output passed on line by line and kept, so a failure can be told
apart: one of the errors a fresh project is known to give once (retried, a bounded number of times)
or anything else (the deploy stops there).

The known ones are eventual consistency, each documented by Google: an API enabled moments ago
("has not been used in project ... or it is disabled ... If you enabled this API recently, wait a
few minutes"), a service account or a grant not yet seen everywhere (IAM changes take up to 7
minutes to propagate), and a Cloud SQL or network operation still running on the same resource
("Error 409 ... operation is in progress").
"""

from __future__ import annotations

import re
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.urls import mask_secrets
from ops.errors import UserError

Progress = Callable[[str], None]
# Enough of pulumi's output to hold its diagnostics, which it prints at the end.
KEPT_LINES = 400


@dataclass(frozen=True)
class Transient:
    """An error known to go away on its own: its name, how to recognise it, and why it happens."""

    name: str
    pattern: re.Pattern[str]
    why: str


TRANSIENT = (
    Transient(
        "api-not-yet-enabled",
        re.compile(r"has not been used in project \S+ before or it is disabled|SERVICE_DISABLED"),
        "an API enabled moments ago is not yet seen by every Google endpoint",
    ),
    Transient(
        "iam-propagation",
        re.compile(
            r"Service account \S+ does not exist|iam\.serviceAccounts\.actAs|"
            r"does not have permission to act as service account",
            re.IGNORECASE,
        ),
        "a new service account or grant takes minutes to be seen everywhere",
    ),
    Transient(
        "operation-in-progress",
        re.compile(r"Error 409: .*(operation is in progress|in an appropriate state)", re.IGNORECASE),
        "another operation on the same Cloud SQL instance or network is still running",
    ),
)


@dataclass(frozen=True)
class Streamed:
    """A finished pulumi call: its exit code and its last lines (masked)."""

    code: int
    tail: tuple[str, ...]

    def transient(self) -> Transient | None:
        """The known transient error in its output, None when it failed otherwise (or did not)."""
        if self.code == 0:
            return None
        text = "\n".join(self.tail)
        return next((known for known in TRANSIENT if known.pattern.search(text)), None)

    def error_line(self) -> str:
        """pulumi's first `error:` line, else its last line."""
        for line in self.tail:
            if line.strip().startswith("error:") and line.strip() != "error: update failed":
                return line.strip()
        return self.tail[-1].strip() if self.tail else "no output"


def stream(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None, progress: Progress) -> Streamed:
    """Run pulumi with its output (stdout and stderr together, as a terminal shows them) passed to
    `progress` line by line, secrets masked. On Ctrl-C pulumi gets it too (same process group) and
    cancels cleanly, which takes a while: wait for it (a killed `up` leaves pending operations)."""
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except OSError as exc:
        raise UserError(f"pulumi cannot run ({exc.strerror}): install it and run `pulumi login`") from None
    tail: deque[str] = deque(maxlen=KEPT_LINES)
    interrupted = False
    with process:  # closes the pipe: a caller that lives on (a test, a long task) leaks no file
        assert process.stdout is not None  # noqa: S101 - asked for above
        while True:
            try:
                for raw in process.stdout:
                    line = mask_secrets(raw.rstrip("\n"))
                    tail.append(line)
                    progress(f"  | {line}")
                code = process.wait()
                break
            except KeyboardInterrupt:
                interrupted = True
    if interrupted:
        raise KeyboardInterrupt
    return Streamed(code, tuple(tail))
