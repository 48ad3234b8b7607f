"""The deploy's fixtures: the stage (stand-ins and a checkout of its own) from tests/support/deploy.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy import Stage, make_stage


@pytest.fixture(name="stage")
def _stage(tmp_path: Path) -> Stage:
    return make_stage(tmp_path)
