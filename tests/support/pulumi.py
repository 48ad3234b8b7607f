"""A stand-in `pulumi` for the deploy's tests (the real CLI cannot be had here): an executable put
first on PATH that writes down every command line it gets (with the PGSTACK_STACK the policy pack
would read) and answers with recorded outputs, chosen by the command's first word and words it
must hold (`up --target`, `up --policy-pack`), each reply used as often as told.

The recorded outputs (tests/ops/deploy/pulumi/) follow the CLI's own shapes: `stack ls --json` and
`stack history --json` as its JSON encoders print them, `up` as its non-interactive display does
(the resource table, `Diagnostics:`, `Resources:`, `Duration:`), the provider's errors as Google's
APIs word them. They are written from the CLI's documentation and source, not captured.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

RECORDED = Path(__file__).resolve().parents[1] / "ops" / "deploy" / "pulumi"

STANDIN = """#!{python} -S
# -S: the standard library is all it needs; without site-packages a call costs ~40% less CPU.
import json, os, sys
state = os.environ["PULUMI_STANDIN"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as calls:
    seen = {{"pack_stack": os.environ.get("PGSTACK_STACK"),
            "migrated_image": os.environ.get("PGSTACK_MIGRATED_IMAGE")}}
    calls.write(json.dumps({{"args": args, **seen}}) + "\\n")
if os.environ.get("STANDIN_ORDER"):  # one log of every stand-in's calls, in the order they came
    with open(os.environ["STANDIN_ORDER"], "a") as order:
        order.write(json.dumps(["pulumi", *args]) + "\\n")
if args[:1] in (["up"], ["preview"], ["destroy"]) and "--stack" not in args:
    sys.stderr.write("error: no stack selected; please use `pulumi stack select`\\n")
    sys.exit(255)
if args[:1] == ["up"] and "--yes" not in args:
    sys.stderr.write("error: --yes or --skip-preview must be passed in to proceed when running in "
                     "non-interactive mode\\n")
    sys.exit(255)
path = os.path.join(state, "replies.json")
with open(path) as handle:
    replies = json.load(handle)
for reply in replies:
    first, *words = reply["when"]
    if args[:1] == [first] and all(word in args for word in words) and reply["times"] != 0:
        reply["times"] -= 1
        with open(path, "w") as handle:
            json.dump(replies, handle)
        sys.stdout.write(reply["stdout"])
        sys.exit(reply["exit"])
sys.stderr.write("error: the stand-in has no reply for: " + " ".join(args) + "\\n")
sys.exit(255)
"""


def recorded(name: str) -> str:
    """A recorded output from tests/ops/deploy/pulumi/."""
    return (RECORDED / name).read_text()


@dataclass(frozen=True)
class PulumiCall:
    args: list[str]
    pack_stack: str | None  # PGSTACK_STACK as pulumi (and so its policy pack) saw it
    migrated_image: str | None  # PGSTACK_MIGRATED_IMAGE: the image the pack lets the service roll out


@dataclass
class PulumiStandIn:
    """The stand-in's directory: its executable in `bin`, its replies and the calls it got."""

    directory: Path

    @property
    def bin(self) -> Path:
        return self.directory / "bin"

    def install(self) -> PulumiStandIn:
        self.bin.mkdir(parents=True, exist_ok=True)
        executable = self.bin / "pulumi"
        executable.write_text(STANDIN.format(python=sys.executable))
        executable.chmod(0o755)
        (self.directory / "replies.json").write_text("[]")
        return self

    def reply(self, when: str, stdout: str = "", exit: int = 0, times: int = -1) -> None:
        """Answer commands whose first word is `when`'s first and which hold its other words."""
        path = self.directory / "replies.json"
        replies = json.loads(path.read_text())
        replies.append({"when": when.split(), "stdout": stdout, "exit": exit, "times": times})
        path.write_text(json.dumps(replies))

    def calls(self) -> list[PulumiCall]:
        path = self.directory / "calls.jsonl"
        if not path.exists():
            return []
        return [PulumiCall(**json.loads(line)) for line in path.read_text().splitlines()]

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with the stand-in first on PATH (PULUMI_CLI unset: it would win over PATH)."""
        env = {k: v for k, v in base.items() if k != "PULUMI_CLI"}
        env["PATH"] = f"{self.bin}:{env.get('PATH', '')}"
        env["PULUMI_STANDIN"] = str(self.directory)
        return env
