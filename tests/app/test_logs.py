"""Logs: Cloud Logging's JSON with trace and httpRequest on Cloud Run, readable lines elsewhere."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from app.logs import CloudLoggingFormatter, trace_of
from tests.support import TestDatabase
from tests.support.app import served, settings_for


def test_trace_header_becomes_the_cloud_trace_name() -> None:
    """X-Cloud-Trace-Context `T/S;o=1` becomes projects/P/traces/T, and nothing without a project."""
    assert "projects/p1/traces/abc123" == trace_of("abc123/456;o=1", "p1")
    assert None is trace_of("abc123/456;o=1", None)


def test_failed_request_is_logged_as_cloud_logging_json(
    database: TestDatabase, script_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Cloud Run a 503 is logged as one JSON line with severity, message, trace and httpRequest."""
    settings = settings_for(
        database,
        script_dir,
        database_url="postgresql://app:s3cret@127.0.0.1:1/app",
        k_service="pgstack",
        google_cloud_project="p1",
    )

    async def call() -> int:
        async with served(settings) as client:
            response = await client.get(
                "/healthz/db", headers={"X-Cloud-Trace-Context": "abc123/1;o=1", "User-Agent": "probe"}
            )
            return response.status_code

    assert 503 == asyncio.run(call())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("logger") == "app.request"]
    assert 1 == len(request_lines)
    entry = request_lines[0]
    assert "WARNING" == entry["severity"]
    assert entry["message"].startswith("GET /healthz/db 503")
    assert "projects/p1/traces/abc123" == entry["logging.googleapis.com/trace"]
    assert {
        "requestMethod": "GET",
        "requestUrl": "/healthz/db",
        "status": 503,
        "userAgent": "probe",
    }.items() <= entry["httpRequest"].items()
    assert "s3cret" not in capsys.readouterr().out


def test_formatter_outside_a_request_has_no_request_fields() -> None:
    """A line logged outside any request carries severity and message only, no trace."""
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    entry = json.loads(CloudLoggingFormatter().format(record))
    assert ("ERROR", "boom x") == (entry["severity"], entry["message"])
    assert "httpRequest" not in entry
