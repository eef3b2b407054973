"""The query service application: ``create_app(settings)`` builds the FastAPI app.

Routes: ``/healthz`` (liveness, no auth), ``/readyz`` (Elasticsearch answers ping and the Kafka broker answers a
metadata request, no auth), ``/metrics`` (Prometheus text, no auth: counts and timings only) — these three
and the request metrics in ``flowwatch_api.ops`` — ``/v1/*``
(bearer API key): findings, incidents (with their report and obligation marks), alerts, the processor
registry and restriction list (writes go to ``processor-registry``) and the export ledger. Elasticsearch
being unreachable or failing answers 503 (with ``Retry-After``) or 502; any other
unexpected error answers 500; every error is an RFC 9457 problem (``application/problem+json``,
``flowwatch_api.problems``), never a stack trace. An unknown query parameter on a ``/v1`` route is a 400 naming
it (``flowwatch_api.params``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import REGISTRY

from flowwatch import __version__
from flowwatch.apikeys import KeyCache
from flowwatch.es_client import make_es
from flowwatch.observability import COMPLIANCE_GAUGES, KafkaCheck, set_build_info
from flowwatch.settings import ApiSettings, topics
from flowwatch_api import (
    abuse,
    alerts,
    audit_log,
    dead_letters,
    detection_config,
    docs_routes,
    exports,
    findings,
    incidents,
    ingest,
    notifications,
    ops,
    problems,
    registry,
    ui_routes,
)
from flowwatch_api.oidc import OidcVerifier
from flowwatch_api.params import reject_unknown_query
from flowwatch_api.partitions import PartitionAggCache
from flowwatch_api.producer import UpdateProducer

ES_REQUEST_TIMEOUT = 10.0
"""Seconds before an Elasticsearch request is abandoned (then 503)."""

V1_ROUTERS: tuple[APIRouter, ...] = (
    findings.router, incidents.router, alerts.router, registry.router, exports.router, audit_log.router,
    audit_log.me_router, ingest.router, dead_letters.router, detection_config.router, notifications.router,
)
"""The ``/v1`` routers, in the order they are matched; each gets ``reject_unknown_query``."""


def make_es_client(settings: ApiSettings) -> Elasticsearch:
    """A sync Elasticsearch 8.x client for ``settings`` (``flowwatch.es_client.make_es``: API key or basic auth,
    CA bundle or fingerprint, cloud id)."""
    return make_es(settings, request_timeout=ES_REQUEST_TIMEOUT)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the query service for ``settings`` (default: from the environment, ``FLOWWATCH_*``).

    Creates one Elasticsearch client (closed at shutdown), a key-lookup cache and the Kafka producers of
    obligation marks (``incident-updates``) and registry records (``processor-registry``), flushed at
    shutdown; all connect lazily, so the app starts even when Elasticsearch or Kafka is down (``/readyz``
    then answers 503; a write answers 503).
    """
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """At shutdown: flush and close the producers, close the Elasticsearch client."""
        yield
        app.state.producer.close()
        app.state.registry_producer.close()
        app.state.events_producer.close()
        app.state.es.close()

    app = FastAPI(
        title="Flowwatch query service",
        version=__version__,
        description="Findings of personal-information flows (masked values only), incidents with their legal "
        "obligations and deadline alerts, the processor registry and the cross-border export ledger. "
        "Every /v1 endpoint needs `Authorization: Bearer <API key>`; platform keys see only their processor.",
        lifespan=lifespan,
        docs_url=None,  # docs_routes: Swagger UI and ReDoc from package files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.es = make_es_client(settings)
    COMPLIANCE_GAUGES.attach(app.state.es, settings.es_index_prefix, REGISTRY)  # open alerts, overdue obligations
    set_build_info("api")
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.agg_cache = PartitionAggCache()
    app.state.oidc = OidcVerifier(settings) if settings.oidc_issuer else None
    app.state.producer = UpdateProducer(settings, topics().incident_updates)
    app.state.registry_producer = UpdateProducer(settings, topics().registry)
    app.state.events_producer = UpdateProducer(settings, topics().flow_events)
    app.state.kafka_check = KafkaCheck(settings, timeout=ops.KAFKA_CHECK_TIMEOUT, ttl=ops.KAFKA_CHECK_TTL)

    abuse.install(app, settings)  # rate limits and the body-size middleware (inside the metrics middleware)

    ops.install_metrics(app)
    problems.install(app, ops.ES_ERRORS)
    app.include_router(ops.router)  # /healthz, /readyz, /metrics: no authentication
    checked = [Depends(reject_unknown_query)]
    for router in V1_ROUTERS:
        app.include_router(router, dependencies=checked)

    def openapi() -> dict[str, Any]:
        """The OpenAPI document (built once): the problem responses and the flow event schema added."""
        if app.openapi_schema is None:
            app.openapi_schema = problems.document_problems(ingest.add_event_schema(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(ui_routes.router)
    app.include_router(docs_routes.router)
    return app
