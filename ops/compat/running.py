"""The old code run for real: its probe (models, and the create/read/update/delete round trip through
each of them) and its app started from its own checkout and virtualenv against the new schema, its
health endpoints asked."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops.compat.database import Scratch
from ops.compat.report import BREAKING, Finding
from ops.errors import UserError
from ops.smoke.appserver import http_get, running_app

PROBE = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 5.0
# The old app's start-up: generous, since a loaded CI machine (several Python processes starting at
# once) must not turn into a BREAKING "did not answer"; a real failure to start ends it sooner.
START_TIMEOUT_S = 90.0
# Must answer 200 (the startup and liveness probes' and the pooled path's); /readyz compares the
# database's revision with the old code's head, so during a rollout it says "not ready" by design.
REQUIRED = ("/healthz", "/healthz/db")
INFORMATIONAL = "/readyz"
SKIPPED = "skipped:"  # the probe's word for a model it could not try (its parent row failed)


def old_environ(checkout: Path, scratch: Scratch | None) -> dict[str, str]:
    """The old code's process environment: its checkout importable, the scratch database's settings
    (none for what needs no database: its models)."""
    settings = scratch.environ() if scratch is not None else {}
    return {**settings, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}


def probe(
    python: Path, checkout: Path, scratch: Scratch | None, command: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Run the probe's `command` in the old code's virtualenv (`environ`: the edge's, for a child);
    its JSON document."""
    env = {**environ, **old_environ(checkout, scratch)}
    env.pop("VIRTUAL_ENV", None)
    try:
        done = subprocess.run(
            [str(python), str(PROBE), command],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"the old code's {command} probe did not finish in {PROBE_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the old code's {command} probe failed ({last}): its models do not import")
    document: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return document


def roundtrip(
    python: Path, checkout: Path, scratch: Scratch, environ: Mapping[str, str]
) -> tuple[list[Finding], list[str]]:
    """A create/read/update/delete round trip through each of the old code's models; (findings,
    notes: the models not tried because a parent row failed)."""
    found = probe(python, checkout, scratch, "roundtrip", environ)
    failures = found["failures"]
    skipped = [f["model"] for f in failures if f["error"].startswith(SKIPPED)]
    findings = [
        Finding(BREAKING, "running", f"{f['model']} {f['step']}", f["error"])
        for f in failures
        if not f["error"].startswith(SKIPPED)
    ]
    notes = [f"round trip not tried for {', '.join(skipped)}: a parent row failed"] if skipped else []
    return findings, notes


def app_checks(python: Path, checkout: Path, scratch: Scratch) -> tuple[list[Finding], list[str]]:
    """The old app started against the schema: its health endpoints; (findings, notes)."""
    findings: list[Finding] = []
    notes: list[str] = []
    try:
        with running_app(
            old_environ(checkout, scratch), python=str(python), cwd=checkout, start_timeout_s=START_TIMEOUT_S
        ) as url:
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
    except UserError as exc:  # it did not start or answer
        findings.append(Finding(BREAKING, "running", "app start-up", str(exc)))
    return findings, notes
