# syntax=docker/dockerfile:1
# Flowwatch indexer: Kafka -> Elasticsearch bulk writer (`python -m flowwatch_indexer`). Build from the repo root:
#   docker build -f docker/indexer.Dockerfile -t flowwatch/indexer:0.1.0 .
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
 && /opt/flowwatch/bin/python -c "import flowwatch_indexer.worker, flowwatch.cluster" \
 && /opt/flowwatch/bin/python -m compileall -q /opt/flowwatch/lib

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
LABEL org.opencontainers.image.title="flowwatch-indexer" \
      org.opencontainers.image.description="Flowwatch indexer: findings, dead letters, incidents, alerts -> Elasticsearch"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/flowwatch/bin:$PATH
RUN groupadd --system --gid 10001 flowwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin flowwatch
COPY --from=build /opt/flowwatch /opt/flowwatch
COPY docker/probe.py /opt/flowwatch/probe.py
WORKDIR /tmp
USER 10001:10001
# no health endpoint: the probe checks that the indexer process runs
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "/opt/flowwatch/probe.py", "alive", "flowwatch_indexer"]
ENTRYPOINT ["python", "-m", "flowwatch_indexer"]
