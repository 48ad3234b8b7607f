"""app: run the app locally against the local stack (PgBouncer URL, direct URL, schema)."""

from __future__ import annotations

import subprocess

from invoke.context import Context
from invoke.tasks import task

from app.urls import mask_url
from cli import edge
from cli.errors import reported
from stacks.stackfile import REPO_ROOT


@task(
    help={
        "port": "port to listen on (default 8000)",
        "host": "address to listen on (default 127.0.0.1; 0.0.0.0 to reach it from elsewhere)",
        "reload": "restart the app when its code changes",
    }
)
def serve(c: Context, port: int = 8000, host: str = "127.0.0.1", reload: bool = False) -> None:
    """Serve the app with uvicorn against the local stack until Ctrl-C."""
    with reported():
        target = edge.target(edge.LOCAL)  # a clear error if the local environment was never started
        print(f"serving http://{host}:{port} on {mask_url(target.app_url)}")
        from ops.checks.appserver import uvicorn_command  # here: its HTTP client slows every `invoke`

        extra = ("--reload", "--reload-dir", str(REPO_ROOT / "app")) if reload else ()
        command = uvicorn_command(port, host, extra)
        # Foreground child: Ctrl-C reaches uvicorn too, which shuts down gracefully.
        subprocess.run(command, cwd=REPO_ROOT, env=edge.child_environ(**target.environ()), check=False)
