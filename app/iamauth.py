"""Cloud SQL IAM database authentication without a connector: the service account's OAuth2 access
token, from the metadata server every Cloud Run instance has, is the password of each new
connection (DB_IAM_AUTH=true; the stack sets it with pgstack:iamAuth and pooler none).

A token is good for about an hour and a connection stays logged in after its token expires, so
tokens are cached and fetched again a few minutes before they run out; a connection opened in
between takes the cached one. Only the standard library: the app adds no dependency for this.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass

# The metadata server's host, or what GCE_METADATA_HOST names (Google's client libraries read it too).
DEFAULT_METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105 - a path
REFRESH_BEFORE_S = 300.0
FETCH_TIMEOUT_S = 3.0


class TokenError(RuntimeError):
    """The metadata server gave no token; the message says what it answered."""


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic() clock


class AccessTokens:
    """The instance's service account tokens, cached until shortly before they expire."""

    def __init__(
        self, metadata_host: str = DEFAULT_METADATA_HOST, timeout_s: float = FETCH_TIMEOUT_S
    ) -> None:
        self.url = f"http://{metadata_host}{TOKEN_PATH}"
        self.timeout_s = timeout_s
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the metadata server was asked (tests, logs)

    def get(self) -> str:
        """A token valid for at least REFRESH_BEFORE_S more seconds."""
        with self._lock:
            now = time.monotonic()
            if self._token is None or self._token.expires_at - REFRESH_BEFORE_S <= now:
                self._token = self._fetch(now)
            return self._token.value

    def _fetch(self, now: float) -> _Token:
        request = urllib.request.Request(self.url, headers={"Metadata-Flavor": "Google"})  # noqa: S310 - http to the metadata server is how it is reached
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 - see above
                payload = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise TokenError(f"no access token from the metadata server at {self.url}: {exc}") from None
        self.fetches += 1
        token, lifetime = payload.get("access_token"), payload.get("expires_in")
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise TokenError(f"the metadata server at {self.url} answered without access_token/expires_in")
        return _Token(token, now + float(lifetime))
