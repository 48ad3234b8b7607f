"""The old code run for real, in one process of its own (the probe, started from its checkout and
virtualenv, kept running): its models, a create/read/update/delete round trip through each of them,
and its app served by uvicorn over HTTP against the new schema, its health endpoints asked.

One process, not one per question: each would import SQLAlchemy and the old code again (a second
or more of CPU apiece). The round trip and the app read the database's settings from their process's
environment, as in a process of their own; the app is served once per process.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ops.compat.database import Scratch
from ops.compat.report import BREAKING, Finding
from ops.errors import UserError
from ops.local.processes import free_port
from ops.smoke.appserver import http_get

PROBE = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 10.0
# The old app's start-up: generous, since a loaded CI machine (several Python processes starting at
# once) must not turn into a BREAKING "did not answer"; a real failure to start ends it sooner.
START_TIMEOUT_S = 90.0
# Must answer 200 (the startup and liveness probes' and the pooled path's); /readyz compares the
# database's revision with the old code's head, so during a rollout it says "not ready" by design.
REQUIRED = ("/healthz", "/healthz/db")
INFORMATIONAL = "/readyz"
SKIPPED = "skipped:"  # the probe's word for a model it could not try (its parent row failed)


def old_environ(checkout: Path, scratch: Scratch | None, pycache: Path) -> dict[str, str]:
    """The old code's process environment: its checkout importable, its bytecode cached under
    `pycache` (beside its virtualenv, never in the checkout; without it every process compiles
    SQLAlchemy and the rest again), the scratch database's settings (none: given later)."""
    settings = scratch.environ() if scratch is not None else {}
    return {**settings, "PYTHONPATH": str(checkout), "PYTHONPYCACHEPREFIX": str(pycache)}


def child_environ(environ: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """`environ` (the edge's) with `own` over it, for a process of the old code's virtualenv."""
    env = {**environ, **own}
    for name in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


class Probe:
    """The old code's probe process: one question at a time, each answer one JSON document."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("the probe is started with pipes for its stdin and stdout")
        self.process, self.log = process, log
        self.stdin, self.stdout = process.stdin, process.stdout
        self.answers: queue.Queue[str | None] = queue.Queue()
        self._models: list[dict[str, Any]] | None = None
        self.reader = threading.Thread(target=self._read, name="probe-answers", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.stdout:
            self.answers.put(line)
        self.answers.put(None)  # it exited

    def _last_log_line(self) -> str:
        return (self.log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]

    def ask(self, command: dict[str, Any], timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
        """Send one command; its answer (a dead or silent probe raises UserError)."""
        what = command["do"]
        try:
            self.stdin.write(json.dumps(command) + "\n")
            self.stdin.flush()
            line = self.answers.get(timeout=timeout_s)
        except BrokenPipeError:
            line = None
        except queue.Empty:
            self.process.kill()  # its answer, if it ever came, would be taken for the next one's
            raise UserError(f"the old code's {what} probe did not answer in {timeout_s:.0f} s") from None
        if line is None:
            self.process.wait()
            raise UserError(f"the old code's probe exited before its {what} answer ({self._last_log_line()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def models(self) -> list[dict[str, Any]]:
        """The old code's models as the probe reads them from its own `app.models` (asked once:
        they depend on the old code alone)."""
        if self._models is None:
            answer = self.ask({"do": "models"})
            if "error" in answer:
                raise UserError(
                    f"the old code's models probe failed ({answer['error']}): its models do not import"
                )
            self._models = answer["models"]
        return self._models

    def roundtrip(self, scratch: Scratch) -> tuple[list[Finding], list[str]]:
        """A create/read/update/delete round trip through each of the old code's models; (findings,
        notes: the models not tried because a parent row failed)."""
        found = self.ask({"do": "roundtrip", "environ": scratch.environ()})
        if "error" in found:
            raise UserError(f"the old code's roundtrip probe failed ({found['error']})")
        failures = found["failures"]
        skipped = [f["model"] for f in failures if f["error"].startswith(SKIPPED)]
        findings = [
            Finding(BREAKING, "running", f"{f['model']} {f['step']}", f["error"])
            for f in failures
            if not f["error"].startswith(SKIPPED)
        ]
        notes = [f"round trip not tried for {', '.join(skipped)}: a parent row failed"] if skipped else []
        return findings, notes

    def app_checks(self, scratch: Scratch) -> tuple[list[Finding], list[str]]:
        """The old app served against the schema: its health endpoints over HTTP; (findings, notes)."""
        try:
            with self._serving(scratch) as url:
                return _health(url)
        except UserError as exc:  # it did not start or answer
            return [Finding(BREAKING, "running", "app start-up", str(exc))], []

    @contextlib.contextmanager
    def _serving(self, scratch: Scratch) -> Iterator[str]:
        answer = self.ask(
            {"do": "serve", "environ": scratch.environ(), "port": free_port()}, timeout_s=START_TIMEOUT_S
        )
        try:
            if "error" in answer:
                raise UserError(f"the app stopped at start-up: {answer['error']} ({self._last_log_line()})")
            yield str(answer["serving"])
        finally:
            self.ask({"do": "stop"}, timeout_s=STOP_TIMEOUT_S)

    def finish(self) -> None:
        """End of input: the probe stops what it serves and exits (without waiting for it)."""
        with contextlib.suppress(OSError):
            self.stdin.close()

    def close(self) -> None:
        """Finish, and wait for the probe to exit (killed if it does not)."""
        self.finish()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join()  # it read to the end: its pipe can be closed
        self.stdout.close()


def _health(url: str) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    notes: list[str] = []
    for path in REQUIRED:
        answer = http_get(url + path, timeout_s=HTTP_TIMEOUT_S)
        if answer.status != 200:
            findings.append(
                Finding(BREAKING, "running", f"GET {path}", f"{answer.status}: {answer.body[:200]}")
            )
    ready = http_get(url + INFORMATIONAL, timeout_s=HTTP_TIMEOUT_S)
    if ready.status != 200:
        notes.append(
            f"the old app's {INFORMATIONAL} answers {ready.status} on the new schema (it compares "
            "revisions; the startup and liveness probes do not use it)"
        )
    return findings, notes


@contextlib.contextmanager
def probe_process(python: Path, checkout: Path, pycache: Path, environ: Mapping[str, str]) -> Iterator[Probe]:
    """The old code's probe, started in its virtualenv (`environ`: the edge's, for a child) and
    importing while the block goes on; stopped afterwards whatever happens."""
    env = child_environ(environ, old_environ(checkout, None, pycache))
    with tempfile.NamedTemporaryFile(prefix="pgstack-compat-probe-", suffix=".log") as log:
        # Its log (the old app's too) goes to a file, not a pipe nobody reads (a full one would block it).
        process = subprocess.Popen(
            [str(python), str(PROBE), "session"],
            cwd=checkout,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        probe = Probe(process, Path(log.name))
        try:
            yield probe
        finally:
            probe.close()
