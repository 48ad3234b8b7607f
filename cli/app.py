"""app: run the app locally against the local stack (PgBouncer URL, direct URL, schema)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from app.urls import mask_url
from cli import edge
from cli.errors import reported


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
        from ops.smoke.appserver import serve as serve_app  # here: its HTTP client slows every `invoke`

        def starting() -> None:
            print(f"serving http://{host}:{port} on {mask_url(target.app_url)}", flush=True)

        code = serve_app(edge.child_environ(**target.environ()), port, host, reload, starting)
        if code != 0:  # uvicorn said why on stderr (a port taken since the check, an app that failed)
            raise Exit(f"error: the app server exited with code {code}", code=code)
