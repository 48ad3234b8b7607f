"""The app image read from its Dockerfile: what the rehearsal runs and which files it ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.errors import UserError
from ops.plan.image import read_image
from stacks.stackfile import REPO_ROOT


def test_the_shipped_dockerfile() -> None:
    image = read_image(REPO_ROOT / "Dockerfile", REPO_ROOT)
    assert "/srv" == image.workdir
    assert "/opt/venv" == image.venv
    assert "app:app" == image.user
    assert ["sh", "-c"] == image.cmd[:2] and "uvicorn" in image.cmd[2] and '"$PORT"' in image.cmd[2]
    assert "/opt/venv/bin:$PATH" == image.env["PATH"]
    assert "/srv" == image.env["PYTHONPATH"]
    shipped = dict(image.files)
    # The migrator's wing and the app, nothing of the tasks, stacks or the other wings.
    assert "/srv/ops/migrate" == shipped["ops/migrate/"]
    assert "/srv/app" == shipped["app/"]
    assert "/srv/migrations" == shipped["migrations/"]
    assert not any(source.startswith(("stacks", "cli", "ops/plan", "ops/local")) for source in shipped)
    assert "pyproject.toml" not in shipped  # copied to /tmp of the build stage only


def _dockerfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return path


def test_copies_follow_stages_and_workdirs(tmp_path: Path) -> None:
    text = """
# a comment
FROM python:3.11 AS build
WORKDIR /code
COPY a.py b.py pkg/
COPY tree/ tree/
COPY only.txt /elsewhere/only.txt
FROM python:3.11-slim
COPY --from=build /code /app
WORKDIR /app
ENV A=1 \\
    B="two words" \\
    C=$A:x
ENTRYPOINT ["tini", "--"]
CMD python -m pkg
"""
    image = read_image(_dockerfile(tmp_path, text), tmp_path)
    assert [("a.py", "/app/pkg/a.py"), ("b.py", "/app/pkg/b.py"), ("tree/", "/app/tree")] == image.files
    assert {"A": "1", "B": "two words", "C": "1:x"} == image.env
    assert ["tini", "--"] == image.entrypoint
    assert ["/bin/sh", "-c", "python -m pkg"] == image.cmd
    assert image.venv is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('FROM x\nADD a /a\nCMD ["a"]\n', "Dockerfile:2: ADD is beyond what the rehearsal models"),
        ('FROM x\nCOPY --from=nowhere /a /a\nCMD ["a"]\n', "no stage of that name"),
        ('FROM x\nCOPY --exclude=a b /c\nCMD ["a"]\n', "COPY --exclude=a is beyond"),
        ("FROM x\nWORKDIR /a\n", "neither CMD nor ENTRYPOINT"),
        ('CMD ["a"]\n', "before any FROM"),
    ],
)
def test_what_it_cannot_model_is_said(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(UserError, match=problem):
        read_image(_dockerfile(tmp_path, text), tmp_path)


def test_the_venv_its_requirements_and_its_bytecode(tmp_path: Path) -> None:
    text = """
FROM python:3.11 AS build
RUN python -m venv /opt/venv
COPY reqs/image.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt
RUN /opt/venv/bin/python -m compileall -q /opt/venv/lib
FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
CMD ["python"]
"""
    image = read_image(_dockerfile(tmp_path, text), tmp_path)
    assert ("/opt/venv", "reqs/image.txt", True) == (image.venv, image.requirements, image.compiled)
    assert [] == image.files  # the requirements file stays in the build stage
