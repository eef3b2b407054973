# syntax=docker/dockerfile:1
# Flowwatch query API (FastAPI, `python -m flowwatch_api`). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t flowwatch/api:0.1.0 .
# Base: python:3.11.14-slim-bookworm, pinned by tag and by the digest of its multi-architecture index.

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/flowwatch
# the services' pinned runtime set first (no dev tools, no extras: docker/runtime-requirements.py; its layer is
# reused while the set does not change), then the project itself; pip check proves the set is complete
COPY docker/requirements-runtime.txt ./
RUN /opt/flowwatch/bin/pip install --no-deps -r requirements-runtime.txt
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/flowwatch/bin/pip install --no-deps . \
 && /opt/flowwatch/bin/pip check \
 && /opt/flowwatch/bin/python -c "import flowwatch_api.app, flowwatch_tools.cli.main" \
 && /opt/flowwatch/bin/python -m compileall -q /opt/flowwatch/lib

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
LABEL org.opencontainers.image.title="flowwatch-api" \
      org.opencontainers.image.description="Flowwatch query API: findings, incidents, alerts behind API keys"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/flowwatch/bin:$PATH \
    FLOWWATCH_API_HOST=0.0.0.0 \
    FLOWWATCH_API_PORT=8080
RUN groupadd --system --gid 10001 flowwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin flowwatch
COPY --from=build /opt/flowwatch /opt/flowwatch
COPY docker/probe.py /opt/flowwatch/probe.py
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "/opt/flowwatch/probe.py", "api", "--path", "/healthz"]
ENTRYPOINT ["python", "-m", "flowwatch_api"]
