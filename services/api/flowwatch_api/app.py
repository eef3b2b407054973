"""The query service application: ``create_app(settings)`` builds the FastAPI app.

Routes: ``/healthz`` (liveness, no auth), ``/readyz`` (Elasticsearch answers ping and the Kafka broker answers a
metadata request, no auth), ``/metrics`` (Prometheus text, no auth: counts and timings only), ``/v1/*``
(bearer API key): findings, incidents (with their report and obligation marks), alerts, the processor
registry and restriction list (writes go to ``processor-registry``) and the export ledger. Elasticsearch
being unreachable or failing answers 503 (with ``Retry-After``) or 502; any other
unexpected error answers 500; every error is an RFC 9457 problem (``application/problem+json``,
``flowwatch_api.problems``), never a stack trace. An unknown query parameter on a ``/v1`` route is a 400 naming
it (``flowwatch_api.params``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from elasticsearch import Elasticsearch
from fastapi import Depends, FastAPI, Request, status
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

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
    problems,
    registry,
    ui_routes,
)
from flowwatch_api.oidc import OidcVerifier
from flowwatch_api.params import reject_unknown_query
from flowwatch_api.partitions import PartitionAggCache
from flowwatch_api.producer import UpdateProducer

log = logging.getLogger(__name__)

ES_REQUEST_TIMEOUT = 10.0
"""Seconds before an Elasticsearch request is abandoned (then 503)."""
PING_TIMEOUT = 2.0
"""Seconds /readyz waits for Elasticsearch's ping."""
RETRY_AFTER_SECONDS = problems.RETRY_AFTER_SECONDS
KAFKA_CHECK_TIMEOUT = 1.5
"""Seconds /readyz waits for the broker's metadata answer (cached ``KAFKA_CHECK_TTL`` seconds)."""
KAFKA_CHECK_TTL = 5.0

REQUESTS = Counter("flowwatch_api_requests_total", "HTTP requests answered, by route template and status.",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("flowwatch_api_request_seconds", "HTTP request duration by route template (seconds).",
                            ["method", "route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
ES_ERRORS = Counter("flowwatch_api_es_errors_total",
                    "Elasticsearch failures answered 503/502: unreachable (transport) or error (API error).",
                    ["kind"])


class Readiness(BaseModel):
    """``/readyz`` answer: ``status`` ready/unavailable, each dependency ok/down, and what is down."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, Literal["ok", "down"]]
    detail: str | None = None


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
    app.state.kafka_check = KafkaCheck(settings, timeout=KAFKA_CHECK_TIMEOUT, ttl=KAFKA_CHECK_TTL)

    abuse.install(app, settings)  # rate limits and the body-size middleware (inside the metrics middleware)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Request count and duration by route template (not the raw path: bounded label values)."""
        started = time.perf_counter()
        status_code = 500
        try:
            response = await call_next(request)
            status_code = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
            REQUESTS.labels(method=request.method, route=route, status=str(status_code)).inc()
            REQUEST_SECONDS.labels(method=request.method, route=route).observe(time.perf_counter() - started)

    problems.install(app, ES_ERRORS)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """Always ``{"status": "ok"}`` while the process serves HTTP."""
        return {"status": "ok"}

    def es_ping() -> bool:
        es: Elasticsearch = app.state.es
        try:
            return bool(es.options(request_timeout=PING_TIMEOUT, max_retries=0).ping())
        except Exception:
            return False

    @app.get(
        "/readyz", tags=["ops"], summary="Readiness: Elasticsearch and the Kafka broker reachable",
        response_model=Readiness,
        responses={503: {"model": Readiness,
                         "description": "Elasticsearch or the Kafka broker does not answer (named in the body)."}},
    )
    async def readyz() -> JSONResponse:
        """200 ``{"status": "ready", "checks": {...}}`` when Elasticsearch answers ping within 2 s and the broker a
        metadata request within 1.5 s (cached 5 s); else 503 with the failing ones in ``detail`` and ``checks``."""
        kafka_check: KafkaCheck = app.state.kafka_check
        es_ok, (kafka_ok, kafka_detail) = await asyncio.gather(
            run_in_threadpool(es_ping), run_in_threadpool(kafka_check.check)
        )
        checks = {"elasticsearch": "ok" if es_ok else "down", "kafka": "ok" if kafka_ok else "down"}
        if es_ok and kafka_ok:
            return JSONResponse({"status": "ready", "checks": checks})
        down = [name for name, state in checks.items() if state != "ok"]
        detail = " and ".join("elasticsearch" if n == "elasticsearch" else "kafka broker" for n in down)
        if not kafka_ok:
            log.warning("readiness: kafka broker unreachable: %s", kafka_detail)
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"status": "unavailable", "detail": f"{detail} does not answer", "checks": checks},
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text exposition format 0.0.4."}})
    def prometheus_metrics() -> Response:
        """Prometheus text exposition of this process (no auth, by convention: counts and timings only)."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    checked = [Depends(reject_unknown_query)]
    for router in (findings.router, incidents.router, alerts.router, registry.router, exports.router,
                   audit_log.router, audit_log.me_router, ingest.router, dead_letters.router, detection_config.router,
                   notifications.router):
        app.include_router(router, dependencies=checked)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document_problems(ingest.add_event_schema(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(ui_routes.router)
    app.include_router(docs_routes.router)
    return app
