"""IAM database authentication's contract, rehearsed on real Postgres: the app asks the metadata
server (a local stand-in speaking its protocol) for the service account's token and logs in with it
as the password, the URL carrying none; tokens are cached until shortly before they expire."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import pooled_engine
from app.iamauth import TOKEN_PATH, AccessTokens, TokenError
from app.settings import Settings
from ops.local.native import LocalEnv
from tests.support import TestDatabase


@dataclass
class MetadataServer:
    """What the stand-in hands out, and what it was asked."""

    host: str
    token: str
    expires_in: int = 3599
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(name="metadata")
def _metadata(local_env: LocalEnv) -> Iterator[MetadataServer]:
    """The metadata server's token endpoint on a free local port; its token is the runtime role's
    password (the stand-in for the token Cloud SQL would accept for the service account)."""
    server_state = MetadataServer("", local_env.state.runtime_password())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.requests.append(dict(self.headers))
            if self.path != TOKEN_PATH or self.headers.get("Metadata-Flavor") != "Google":
                self.send_response(403)
                self.end_headers()
                return
            body = json.dumps(
                {
                    "access_token": server_state.token,
                    "expires_in": server_state.expires_in,
                    "token_type": "Bearer",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


def _settings(database: TestDatabase, metadata: MetadataServer) -> Settings:
    """The app's settings as the stack gives them with iamAuth: the runtime role's URL straight to
    Postgres, no password in it, DB_IAM_AUTH on."""
    url = make_url(database.direct_url).set(username=database.runtime_role, password=None)
    return Settings(
        database_url=url.render_as_string(hide_password=False),  # type: ignore[arg-type]
        db_pool_mode="direct",
        db_schema=database.schema,
        db_iam_auth=True,
        gce_metadata_host=metadata.host,
    )


async def _logins(settings: Settings, count: int) -> list[str]:
    engine = pooled_engine(settings)
    users = []
    try:
        for _ in range(count):
            async with engine.connect() as connection:
                users.append(str((await connection.execute(text("SELECT current_user"))).scalar()))
            await engine.dispose()  # the next connect is a new login
    finally:
        await engine.dispose()
    return users


def test_the_app_logs_in_with_the_metadata_servers_token(
    database: TestDatabase, metadata: MetadataServer
) -> None:
    """Three new connections log in as the runtime role with the token; one token fetch serves them."""
    users = asyncio.run(_logins(_settings(database, metadata), 3))
    assert [database.runtime_role] * 3 == users
    assert 1 == len(metadata.requests)
    assert "Google" == metadata.requests[0]["Metadata-Flavor"]


def test_a_token_about_to_expire_is_fetched_again(database: TestDatabase, metadata: MetadataServer) -> None:
    """A token within five minutes of its end is not used for a new login: each one fetches anew."""
    metadata.expires_in = 300
    asyncio.run(_logins(_settings(database, metadata), 2))
    assert 2 == len(metadata.requests)


def test_a_wrong_token_is_refused_by_postgres(database: TestDatabase, metadata: MetadataServer) -> None:
    """The token is what Postgres checks: another one does not log in."""
    metadata.token = "not-the-token"
    with pytest.raises(Exception, match="password authentication failed"):
        asyncio.run(_logins(_settings(database, metadata), 1))


def test_no_metadata_server_is_one_line(local_env: LocalEnv) -> None:
    """Off Cloud Run (nothing answers), the error says where the token was asked for."""
    tokens = AccessTokens("127.0.0.1:9", timeout_s=1)
    with pytest.raises(
        TokenError, match=r"^no access token from the metadata server at http://127\.0\.0\.1:9/"
    ):
        tokens.get()
