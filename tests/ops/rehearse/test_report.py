"""The rehearsal's one-line verdict over several pooler modes (the modes themselves are rehearsed
one per file in test_staging_*.py)."""

from __future__ import annotations

import json

from ops.rehearse import ContainerResult, ModeResult, Rehearsal


def _mode(pooler: str, *labels: str, skipped: str | None = None) -> ModeResult:
    containers = [ContainerResult(label, ok=True) for label in labels]
    return ModeResult(pooler, skipped=skipped, containers=containers)


def test_a_stack_passes_when_every_mode_rehearsed_passes() -> None:
    """Containers are counted over the modes; a skipped mode is named and does not fail the stack."""
    report = Rehearsal("staging")
    report.modes += [
        _mode("sidecar", "job migrate", "service s/pgbouncer", "service s/app"),
        _mode("managed", "job migrate", "service s/app"),
        _mode("none", "job migrate", "service s/app"),
    ]
    assert report.ok
    assert "rehearsal of staging passed: 7 containers in sidecar, managed, none" == report.verdict()
    report.modes.append(_mode("iam", skipped="IAM users"))
    assert "rehearsal of staging passed: 7 containers in sidecar, managed, none; not rehearsed: iam" == (
        report.verdict()
    )
    assert json.loads(report.to_json())["ok"] is True


def test_one_failed_container_fails_the_stack_and_says_where() -> None:
    """A failure in one mode fails the whole rehearsal; the verdict names the mode and container
    and counts what was not run after it, and the warnings of the others."""
    report = Rehearsal("prod")
    report.modes.append(_mode("sidecar", "job migrate", "service p/app"))
    report.modes[0].containers[1].warnings.append("logs in as the owner")
    failed = ModeResult("none", containers=[ContainerResult("job migrate", error="run 1 exited 1")])
    failed.containers.append(ContainerResult("service p/app", not_run="job migrate failed"))
    report.modes.append(failed)
    assert not report.ok
    assert "rehearsal of prod FAILED (none: job migrate; 1 not run after that); 1 warning" == report.verdict()
