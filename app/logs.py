"""Logging: Cloud Logging's structured JSON on Cloud Run (K_SERVICE set), readable lines elsewhere.

A request's trace and httpRequest ride on a context variable, so every line logged while serving it
joins the request in Cloud Logging.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import Settings
from app.urls import mask_secrets

_request_context: ContextVar[dict[str, Any] | None] = ContextVar("request_context", default=None)
_TRACE_KEY = "logging.googleapis.com/trace"
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line with the fields Cloud Logging lifts into the log entry."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "logger": record.name,
        }
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        # A driver error or a URL in a message (or its traceback) never reaches the logs with a password.
        entry["message"] = mask_secrets(entry["message"])
        context = _request_context.get()
        if context:
            if context.get("trace"):
                entry[_TRACE_KEY] = context["trace"]
            entry["httpRequest"] = getattr(record, "http_request", None) or context["httpRequest"]
        return json.dumps(entry, default=str)


class ReadableFormatter(logging.Formatter):
    """`time level logger: message`, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """The line, every URL and libpq password in it masked."""
        return mask_secrets(super().format(record))


def configure_logging(settings: Settings) -> None:
    """Send the app's and uvicorn's logs to stdout in the format of where we run."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter() if settings.on_cloud_run else ReadableFormatter())
    for name in ("app", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(settings.log_level)
        logger.propagate = False


def trace_of(header: str | None, project: str | None) -> str | None:
    """`projects/P/traces/T` from an X-Cloud-Trace-Context header `T/SPAN;o=1`, if both are known."""
    if not header or not project:
        return None
    trace_id = header.split("/", 1)[0].strip()
    return f"projects/{project}/traces/{trace_id}" if trace_id else None


class RequestLogMiddleware:
    """Tag the request's log lines with trace and httpRequest; log 5xx answers as warnings.

    Other answers are logged at DEBUG only: Cloud Run already writes a request log for each request,
    and a line per request would cost throughput for nothing.
    """

    def __init__(self, app: ASGIApp, project: str | None) -> None:
        self.app = app
        self.project = project
        self.log = logging.getLogger("app.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        client = scope.get("client")
        http_request: dict[str, Any] = {
            "requestMethod": scope["method"],
            "requestUrl": scope["path"],
            "userAgent": headers.get("user-agent", ""),
            "remoteIp": client[0] if client else "",
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        }
        token = _request_context.set(
            {
                "trace": trace_of(headers.get("x-cloud-trace-context"), self.project),
                "httpRequest": http_request,
            }
        )
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            level = logging.WARNING if status >= 500 else logging.DEBUG
            if self.log.isEnabledFor(level):
                latency = time.perf_counter() - started
                done = {**http_request, "status": status, "latency": f"{latency:.6f}s"}
                self.log.log(
                    level,
                    "%s %s %d %.1f ms",
                    scope["method"],
                    scope["path"],
                    status,
                    latency * 1000,
                    extra={"http_request": done},
                )
            _request_context.reset(token)
