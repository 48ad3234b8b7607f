"""A stand-in `gcloud` for the tests (the real one cannot run here): an executable put first on PATH
that writes down every command line it is given and answers with recorded outputs, chosen by the
command's leading words (`run jobs execute`, `logging read`...), each reply used as often as told.

Also the one piece of Google's behaviour the tests need to model: how Cloud Logging turns a Cloud
Run job's output lines into log entries (a line that is a JSON object becomes `jsonPayload`, its
`severity` moved to the entry; any other line `textPayload`), per Google's structured logging
documentation; not captured from a real project.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[1] / "ops" / "cloud" / "gcloud"

STANDIN = """#!{python} -S
# -S: the standard library is all it needs; without site-packages a call costs ~40% less CPU.
import json, os, sys
state = os.environ["GCLOUD_STANDIN"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if os.environ.get("STANDIN_ORDER"):  # one log of every stand-in's calls, in the order they came
    with open(os.environ["STANDIN_ORDER"], "a") as order:
        order.write(json.dumps(["gcloud", *args]) + "\\n")
# The account gcloud runs as may live in another project than the stack's (a CI deploy account):
# a call that leaves the project, or a `gcloud run` call the region, to gcloud's defaults is refused.
named = lambda flag: any(a == flag or a.startswith(flag + "=") for a in args)
if not named("--project") or (args[:1] == ["run"] and not named("--region")):
    missing = "--project" if not named("--project") else "--region"
    refused = "ERROR: (gcloud) the stand-in refuses a call without " + missing + ": " + " ".join(args)
    sys.stderr.write(refused + "\\n")
    sys.exit(2)
path = os.path.join(state, "replies.json")
with open(path) as handle:
    replies = json.load(handle)
for reply in replies:
    wanted = reply.get("contains")
    if wanted and wanted not in " ".join(args):
        continue
    if args[: len(reply["when"])] == reply["when"] and reply["times"] != 0:
        reply["times"] -= 1
        with open(path, "w") as handle:
            json.dump(replies, handle)
        sys.stdout.write(reply["stdout"])
        sys.stderr.write(reply["stderr"])
        sys.exit(reply["exit"])
sys.stderr.write("ERROR: (gcloud) the stand-in has no reply for: " + " ".join(args) + "\\n")
sys.exit(2)
"""


def recorded(name: str) -> str:
    """A recorded output from tests/ops/cloud/gcloud/."""
    return (RECORDED / name).read_text()


@dataclass
class GcloudStandIn:
    """The stand-in's directory: its executable in `bin`, its replies and the calls it got."""

    directory: Path

    @property
    def bin(self) -> Path:
        return self.directory / "bin"

    def install(self) -> GcloudStandIn:
        self.bin.mkdir(parents=True, exist_ok=True)
        executable = self.bin / "gcloud"
        executable.write_text(STANDIN.format(python=sys.executable))
        executable.chmod(0o755)
        (self.directory / "replies.json").write_text("[]")
        return self

    def reply(
        self,
        when: str,
        *,
        stdout: str = "",
        stderr: str = "",
        exit: int = 0,
        times: int = -1,
        contains: str | None = None,
    ) -> None:
        """Answer commands starting with the words of `when` (and holding `contains` anywhere in
        their arguments, when given), `times` times (-1: always); the first match answers."""
        path = self.directory / "replies.json"
        replies = json.loads(path.read_text())
        replies.append(
            {
                "when": when.split(),
                "stdout": stdout,
                "stderr": stderr,
                "exit": exit,
                "times": times,
                "contains": contains,
            }
        )
        path.write_text(json.dumps(replies))

    def calls(self) -> list[list[str]]:
        path = self.directory / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: ours) with the stand-in first on PATH and no database URL."""
        env = {
            k: v
            for k, v in (base or dict(os.environ)).items()
            if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")
        }
        env["PATH"] = f"{self.bin}:{env.get('PATH', '')}"
        env["GCLOUD_STANDIN"] = str(self.directory)
        return env


def log_entries(
    job: str, execution: str, stdout: str, stderr: str = "", project: str = "pgstack-staging"
) -> list[dict[str, Any]]:
    """A job execution's output as `gcloud logging read --format=json` would list its entries."""
    entries: list[dict[str, Any]] = []
    streams = [("stdout", line) for line in stdout.splitlines()] + [
        ("stderr", line) for line in stderr.splitlines()
    ]
    for number, (stream, line) in enumerate(streams):
        entry: dict[str, Any] = {
            "insertId": f"{number:08x}",
            "labels": {
                "instanceId": "00f46b9285",
                "run.googleapis.com/execution_name": execution,
                "run.googleapis.com/task_attempt": "0",
                "run.googleapis.com/task_index": "0",
            },
            "logName": f"projects/{project}/logs/run.googleapis.com%2F{stream}",
            "receiveTimestamp": f"2026-01-12T09:14:{10 + number // 10:02d}.{number % 10}00000Z",
            "resource": {
                "labels": {"job_name": job, "location": "europe-west1", "project_id": project},
                "type": "cloud_run_job",
            },
            "timestamp": f"2026-01-12T09:14:{10 + number // 10:02d}.{number % 10}00000Z",
        }
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict):
            entry["severity"] = payload.pop("severity", "DEFAULT")
            entry["jsonPayload"] = payload
        else:
            entry["textPayload"] = line
            entry["severity"] = "ERROR" if stream == "stderr" else "DEFAULT"
        entries.append(entry)
    return entries
