# syntax=docker/dockerfile:1
# The app image: the Cloud Run service (uvicorn on $PORT) and, with the command
# `python -m ops.migrate`, the migration job. Built by stacks/gcp/registry.py.

ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with the runtime dependencies, and the code compiled to bytecode ---------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# The service's and the migration job's packages (pyproject.toml's [project] dependencies: no
# Pulumi, no invoke, no dev tools) at the versions uv.lock pins, exported with hashes by
# `invoke lock`: pip refuses anything else, and --no-deps because the export lists every package.
# psycopg[binary] ships libpq, so no apt packages.
COPY requirements/image.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt
WORKDIR /srv
# The migration job (`python -m ops.migrate`) needs the migrator's wing and nothing else of ops/:
# it imports app, ops.errors, ops.migrate and migrations only.
COPY app/ app/
COPY ops/__init__.py ops/errors.py ops/
COPY ops/migrate/ ops/migrate/
COPY migrations/ migrations/
# Bytecode compiled at build time: the non-root user cannot write it, and a cold start should
# not pay for it.
RUN /opt/venv/bin/python -m compileall -q /srv /opt/venv/lib

# --- runtime: slim, non-root ---------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv /srv
WORKDIR /srv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080
USER app:app
EXPOSE 8080
# One worker per container: Cloud Run scales instances, and the DB concurrency limit and pool
# sizes are per process. exec: uvicorn is PID 1 and gets Cloud Run's SIGTERM for a clean shutdown.
CMD ["sh", "-c", "exec uvicorn --factory app.main:create_app --host 0.0.0.0 --port \"$PORT\" --workers 1 --no-access-log --proxy-headers --forwarded-allow-ips '*'"]
