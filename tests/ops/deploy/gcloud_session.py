"""One gcloud interpreter asked about many command lines: run by gcloud's own Python with the SDK's
root as its argument (see test_gcloud_parser.py), never imported by the tests.

It loads gcloud the way the SDK's launcher does (lib/gcloud.py: its sys.path set-up, then
googlecloudsdk.gcloud_main), builds the CLI once with gcloud_main.CreateCLI([]) as
gcloud_main.main() does, then runs each command line read from stdin (a JSON list of arguments) with
the CLI's Execute(args), the call gcloud_main.main() makes for its one command line, and gcloud's
test suite for many. Each line's stdout and stderr are captured at the file descriptors, and its exit
status is that of the SystemExit gcloud raises (0 when it returns). One JSON reply per line, on the
stdout this process started with. Standard library only: gcloud's interpreter has nothing else of ours.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def _load_cli(root: str) -> Any:
    """gcloud's CLI object, loaded as its launcher loads it."""
    sys.argv = ["gcloud"]
    sys.path.insert(0, str(Path(root) / "lib"))
    launcher = importlib.import_module("gcloud")  # the SDK's lib/gcloud.py: puts its paths first
    sys.path = launcher.reorder_sys_path(sys.path)
    launcher._fix_google_module()  # as the launcher's main() does before the import
    return launcher._import_gcloud_main().CreateCLI([])


def _run(cli: Any, args: list[str]) -> dict[str, object]:
    """One command line: its exit status and what it wrote to fds 1 and 2."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        try:
            cli.Execute(args, call_arg_complete=False)
        except SystemExit as exc:  # gcloud's way out of a refused or failed command
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(), "stderr": err.read().decode()}


def main() -> None:
    """Serve command lines from stdin until it closes."""
    cli = _load_cli(sys.argv[1])
    with os.fdopen(os.dup(1), "w") as replies:
        print("ready", file=replies, flush=True)
        for line in sys.stdin:
            print(json.dumps(_run(cli, json.loads(line))), file=replies, flush=True)


if __name__ == "__main__":
    main()
